"""#11 finding 2: flags read from the server count (and are written) only where they differ from
the stored ones, as sets and without \\Recent; a message not stored is no change."""

from mailbridge.fetcher.adapters.flag_changes import differing, kept


def test_only_differing_flags_are_changes() -> None:
    stored = {1: ["\\Seen"], 2: [], 3: ["\\Seen", "\\Flagged"], 4: None}
    read = [(1, ("\\Seen",)), (2, ("\\Seen",)), (3, ("\\Flagged", "\\Seen")), (4, ()), (5, ("\\Seen",))]
    assert differing(read, stored) == [(2, ["\\Seen"])]


def test_recent_is_a_session_flag_and_never_a_change() -> None:
    assert kept(("\\Recent", "\\Seen")) == ["\\Seen"]
    assert differing([(1, ("\\Recent",))], {1: []}) == []


def test_a_flag_taken_away_is_a_change() -> None:
    assert differing([(1, ())], {1: ["\\Seen"]}) == [(1, [])]
