"""S11/S12: which downloaded messages the fetcher deletes on the POP3 server, and when.

S11 (`delete_after_fetch`): every message stored from this maildrop is deleted at the end of the
fetch that finds it stored. S12 (`delete_after_days`, without S11): a stored message is deleted
once that many days have passed since it was first downloaded (its UIDL's first-seen time), not
counted from its Date or from when it arrived on the server. Neither set: nothing is deleted.

Only messages the store has (a first-seen time for their UIDL) are ever deleted: one skipped as
too large or failed is never stored, so never deleted. A UIDL whose stored message is a server's
stand-in (#11) is kept on the server too: the real message is still to be fetched.
"""

from collections.abc import Mapping
from datetime import datetime, timedelta

from mailbridge.fetcher.model import AccountConfig


def deletes_any(account: AccountConfig) -> bool:
    """Whether the account's server deletes anything at all (S11 or S12 set)."""
    return account.delete_after_fetch or account.delete_after_days is not None


def due_for_deletion(
    account: AccountConfig, first_seen: Mapping[str, datetime], stand_ins: set[str], now: datetime
) -> list[str]:
    """The UIDLs to delete now, sorted: of the stored ones on the server (`first_seen`, by UIDL),
    all under S11, those first downloaded at least `delete_after_days` ago under S12; never a
    stand-in's."""
    if account.delete_after_fetch:
        due = set(first_seen)
    elif account.delete_after_days is not None:
        oldest = now - timedelta(days=account.delete_after_days)
        due = {uidl for uidl, seen in first_seen.items() if seen <= oldest}
    else:
        due = set()
    return sorted(due - stand_ins)
