"""#17: the connection slots a mailbox's connections hold, shared by every fetcher and sender
replica (`shared_limits`): one key per protocol, server and login, named here once, so the
fetch, the pooled send, the IMAP IDLE holder and the credentials test count the same slots.

A provider counts every connection of a mailbox (Microsoft 365: about 20 IMAP connections, 3
SMTP ones): the incoming ones (IMAP and POP3, each server has one incoming protocol) under the
server's `imap_connections_per_login`, the SMTP ones under `smtp_connections_per_login`.
`held_slot` takes a slot for one connection's life and gives it back on every path (errors and
cancellation included); with all taken it raises `NoConnectionSlot`, whose words say so.
"""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from mailbridge.common.credential_checks import Code, Diagnosis
from mailbridge.common.credential_diagnosis import Diagnosed
from mailbridge.common.shared_limits import SharedLimits, scope_key

LIMIT_FIELD = {"imap": "imap_connections_per_login", "pop3": "imap_connections_per_login",
               "smtp": "smtp_connections_per_login"}  # fmt: skip


def slot_key(protocol: str, host: str, port: int, login: str, owner: str = "") -> str:
    """The key of a login's connections to one server (`owner`: the account of an OAuth login,
    whose SMTP connections are never another account's)."""
    if protocol == "smtp":
        return scope_key("conn", "smtp", host, port, login, owner)
    return scope_key("conn", protocol, host, port, login)


class NoConnectionSlot(Diagnosed):
    """Every slot of the login is held (by this or another replica): no connection was opened.
    A credentials test's step reports it as it is (`Diagnosed`); a fetch is retried later."""

    def __init__(self, protocol: str, host: str, port: int, login: str, limit: int) -> None:
        words = (
            f"{login} already holds all {limit} {protocol.upper()} connections {host}:{port} allows it "
            f"({LIMIT_FIELD[protocol]}, counted over every Mailbridge fetcher and sender, #17): no "
            "connection was opened; try again once one of them is closed, or raise the server's limit"
        )
        super().__init__(Diagnosis(Code.CONNECTION_LIMIT_REACHED, words))
        self.reason = words


class SlotsUnreadable(RuntimeError):
    """The slots' store could not be read (NATS away): no connection was opened."""


@asynccontextmanager
async def held_slot(
    limits: SharedLimits | None, protocol: str, host: str, port: int, login: str, limit: int | None,
    owner: str = "", refused: Callable[[NoConnectionSlot], Exception] | None = None,
) -> AsyncIterator[None]:  # fmt: skip
    """A slot for the connection opened in the block, given back when the block ends, however it
    ends. No limits or no limit: nothing is counted (no NATS round trip). All taken: raises
    `NoConnectionSlot`, or what `refused` makes of it (a fetch's transient failure)."""
    if limits is None or limit is None:
        yield
        return
    key = slot_key(protocol, host, port, login, owner)
    try:
        slot = await limits.take_slot(key, limit)
    except Exception as error:  # the store (NATS) away: named, never mistaken for the mail server's
        raise SlotsUnreadable(f"the shared connection slots could not be read: {error!r}") from error
    if slot is None:
        full = NoConnectionSlot(protocol, host, port, login, limit)
        raise full if refused is None else refused(full)
    try:
        yield
    finally:
        await limits.give_back(key, slot)
