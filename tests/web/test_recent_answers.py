"""The 4XX cache's copy in each process (RecentAnswers): kept a few seconds, bounded."""

from drop.web.error_cache import RecentAnswers


def test_the_copy_in_memory_is_kept_a_few_seconds_then_redis_is_asked_again():
    now = [0.0]
    recent = RecentAnswers(max_entries=2, seconds=5, clock=lambda: now[0])
    recent.put("a", b"entry")
    assert recent.get("a") == b"entry"
    now[0] = 5.0
    assert recent.get("a") is None
    # At most max_entries: the oldest goes first.
    for key in ("x", "y", "z"):
        recent.put(key, key.encode())
    assert [recent.get(key) for key in ("x", "y", "z")] == [None, b"y", b"z"]
