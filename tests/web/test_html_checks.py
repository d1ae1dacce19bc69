"""The HTML checks themselves catch what they are meant to catch."""

from tests.support.html_checks import foreign_urls, unlabelled_controls


def test_label_check_accepts_for_wrapping_and_aria_labels():
    html = """
    <label for="a">A</label><input id="a">
    <label>B <select name="b"></select></label>
    <textarea aria-label="C"></textarea>
    <input type="hidden" name="key"><button>Go</button>
    """
    assert unlabelled_controls(html) == []


def test_label_check_catches_an_unlabelled_input_and_an_empty_button():
    problems = unlabelled_controls('<label for="x">X</label><input id="y"><button> </button>')
    assert len(problems) == 2


def test_foreign_url_check_catches_a_cdn_script():
    html = (
        '<script src="https://unpkg.com/htmx.org"></script><link href="/static/drop.css">'
        '<a href="http://drop.example/d/x">share</a>'
    )
    assert foreign_urls(html, "http://drop.example") == ["https://unpkg.com/htmx.org"]
