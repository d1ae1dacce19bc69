"""LiveTokens: the drops a web process just served, whose downloads skip the 4XX cache."""

from drop.drops.downloads import LiveTokens


def test_live_tokens_forget_the_oldest_past_their_size_and_an_ended_one():
    live = LiveTokens(max_tokens=2)
    for token in ("a", "b", "c"):
        live.served(token)
    assert ("a" in live, "b" in live, "c" in live) == (False, True, True)
    live.ended("b")
    live.ended("never-served")
    assert ("b" in live, "c" in live) == (False, True)
