"""Checks over rendered HTML: every form control has a label, every resource is our own."""

from __future__ import annotations

from html.parser import HTMLParser

# Controls a person fills in or chooses; buttons are labelled by their own text.
UNLABELLED_INPUT_TYPES = {"hidden", "submit", "button", "reset", "image"}


class _Controls(HTMLParser):
    def __init__(self):
        super().__init__()
        self.label_for: set[str] = set()
        self.label_depth = 0
        self.controls: list[dict] = []  # {"tag", "attrs", "wrapped"}
        self.buttons: list[dict] = []  # {"attrs", "text"}
        self._button: dict | None = None
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("src", "href", "action"):
            if attrs.get(name):
                self.urls.append(attrs[name])
        if tag == "label":
            self.label_depth += 1
            if attrs.get("for"):
                self.label_for.add(attrs["for"])
        elif tag in ("input", "select", "textarea"):
            if tag == "input" and attrs.get("type", "text") in UNLABELLED_INPUT_TYPES:
                if attrs.get("type") in ("submit", "button", "reset") and not attrs.get("value"):
                    self.buttons.append({"attrs": attrs, "text": ""})
                return
            self.controls.append({"tag": tag, "attrs": attrs, "wrapped": self.label_depth > 0})
        elif tag == "button":
            self._button = {"attrs": attrs, "text": ""}

    def handle_endtag(self, tag):
        if tag == "label":
            self.label_depth -= 1
        elif tag == "button" and self._button is not None:
            self.buttons.append(self._button)
            self._button = None

    def handle_data(self, data):
        if self._button is not None:
            self._button["text"] += data


def unlabelled_controls(html: str) -> list[str]:
    """Describe each control without a label (by `for`, by wrapping, or by ARIA)."""
    parser = _Controls()
    parser.feed(html)
    problems = []
    for control in parser.controls:
        attrs = control["attrs"]
        labelled = (
            control["wrapped"]
            or attrs.get("id") in parser.label_for
            or attrs.get("aria-label", "").strip()
            or attrs.get("aria-labelledby", "").strip()
        )
        if not labelled:
            problems.append(f"<{control['tag']} {attrs}>")
    for button in parser.buttons:
        if not (button["text"].strip() or button["attrs"].get("aria-label", "").strip()):
            problems.append(f"<button {button['attrs']}> without text")
    return problems


def foreign_urls(html: str, own_origin: str) -> list[str]:
    """src/href/action values that point anywhere but `own_origin` (relative ones are ours)."""
    parser = _Controls()
    parser.feed(html)
    return [
        url
        for url in parser.urls
        if ("//" in url.split("?")[0] and not url.startswith(own_origin + "/"))
        or url.startswith("data:")
    ]
