"""Receive and cleanup of the credentials test (T1): find the test message by its token in the
inbox, then delete that one message on the server. Read-only until the delete; nothing is stored.

IMAP: one session; each poll SELECTs the inbox again (new mail shows) and asks `UID SEARCH HEADER
<TEST_HEADER> <token>`. The delete is `UID STORE +FLAGS.SILENT (\\Deleted)` and, where UIDPLUS is
offered, `UID EXPUNGE` of that UID only (a plain EXPUNGE would also remove what the person marked
deleted); without UIDPLUS the message stays marked and goes at the server's next expunge.
POP3: a session is a snapshot of the maildrop (RFC 1939), so each poll is a new session; each
message's header block (TOP n 0, else the whole message) is searched for the token, newest first;
the delete is DELE and QUIT.
"""

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from functools import partial

from mailbridge.common.connection_slots import held_slot
from mailbridge.common.credential_checks import RECEIVE_STEPS, TEST_HEADER, Step, StepLog, message_token
from mailbridge.common.endpoints import Endpoint, IncomingProtocol
from mailbridge.common.imap_text import parse_search
from mailbridge.common.shared_limits import SharedLimits
from mailbridge.fetcher import credential_diagnosis as diagnose
from mailbridge.fetcher.adapters.imap import ImapMailbox
from mailbridge.fetcher.adapters.imap_connections import ImapConnections
from mailbridge.fetcher.adapters.imap_failures import require_ok
from mailbridge.fetcher.adapters.pop3 import Pop3Mailbox, Pop3Sessions
from mailbridge.fetcher.credentials import signed_in
from mailbridge.fetcher.model import AccountConfig

HEADER_BYTES = 256 * 1024  # the most a header block may bring while looking for the token
WHOLE_BYTES = 1024 * 1024  # without TOP: the most a message may bring
NEWEST_PER_POLL = 50  # POP3: headers read per poll, newest first


class Receiving:
    """The receive and cleanup steps for one account, logging in as a fetch does."""

    def __init__(
        self, account: AccountConfig, endpoint: Endpoint, tokens: diagnose.RefusalMemory, poll_s: float,
        limits: SharedLimits | None = None,
    ) -> None:  # fmt: skip
        self._account, self._endpoint, self._tokens, self._poll_s = account, endpoint, tokens, poll_s
        self._where = f"{endpoint.host}:{endpoint.port}"
        self._limits = limits  # #17: each session holds one of the login's shared slots

    def _slot(self, protocol: str) -> AbstractAsyncContextManager[None]:
        account, endpoint = self._account, self._endpoint
        limit = account.imap_connections_per_login
        return held_slot(self._limits, protocol, endpoint.host, endpoint.port, account.login, limit)

    async def run(self, log: StepLog, test_id: uuid.UUID, timeout_s: float) -> None:
        token = message_token(test_id)
        try:
            if self._account.protocol is IncomingProtocol.POP3:
                await self._pop3(log, token, timeout_s)
            else:
                await self._imap(log, token, timeout_s)
        except Exception as error:  # noqa: BLE001 - the login failed: diagnosed like the incoming one
            found = diagnose.login(error, self._where, self._account.login, self._tokens.refused)
            log.fail(Step.RECEIVE, found)
        log.skip_rest(RECEIVE_STEPS, "not tried: receive failed")

    async def _imap(self, log: StepLog, token: str, timeout_s: float) -> None:
        connect = partial(ImapConnections().logged_in, self._account, self._endpoint)
        async with self._slot("imap"), signed_in(self._account, self._tokens, connect) as mailbox:
            assert isinstance(mailbox, ImapMailbox)
            ok, uids = await log.run(
                Step.RECEIVE, lambda: self._poll(lambda: self._imap_search(mailbox, token), timeout_s),
                self._diagnose, lambda found: f"the test message arrived in {self._account.inbox_folder}",
            )  # fmt: skip
            if ok and uids:
                await log.run(Step.CLEANUP, lambda: imap_delete(mailbox, uids), self._diagnose, str)

    async def _imap_search(self, mailbox: ImapMailbox, token: str) -> list[int]:
        await mailbox.select(self._account.inbox_folder)
        search = mailbox.client.uid_search("HEADER", TEST_HEADER, token, charset=None)
        response = await mailbox.call(search, "SEARCH")
        require_ok(response, "SEARCH")
        return parse_search(response.lines)

    async def _pop3(self, log: StepLog, token: str, timeout_s: float) -> None:
        looked_at: set[str] = set()  # UIDLs whose header was read in an earlier poll

        async def look() -> list[int]:
            connect = partial(Pop3Sessions().logged_in, self._account, self._endpoint)
            async with self._slot("pop3"), signed_in(self._account, self._tokens, connect) as session:
                assert isinstance(session, Pop3Mailbox)
                numbers = await pop3_search(session, token, looked_at)
                if numbers:  # POP3 deletes only in the session that listed the message
                    await session.delete_and_quit(numbers)
                return numbers

        ok, _ = await log.run(
            Step.RECEIVE, lambda: self._poll(look, timeout_s), self._diagnose,
            lambda _: "the test message arrived in the inbox and was deleted (DELE, QUIT)",
        )  # fmt: skip
        if ok:
            log.ok(Step.CLEANUP, "the test message was deleted in the receive's session (DELE, QUIT)")

    async def _poll(self, look: Callable[[], Awaitable[list[int]]], timeout_s: float) -> list[int]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            found = await look()
            if found:
                return found
            if loop.time() >= deadline:
                raise diagnose.NotReceived(self._account.inbox_folder, timeout_s)
            await asyncio.sleep(min(self._poll_s, max(0.0, deadline - loop.time())))

    def _diagnose(self, error: BaseException) -> diagnose.Diagnosis:
        return diagnose.receiving(error, self._where)


async def imap_delete(mailbox: ImapMailbox, uids: list[int]) -> str:
    message_set = ",".join(map(str, uids))
    response = await mailbox.call(
        mailbox.client.uid("store", message_set, "+FLAGS.SILENT", r"(\Deleted)"), "STORE"
    )
    require_ok(response, "STORE")
    if "UIDPLUS" not in {name.upper() for name in mailbox.capabilities}:
        return "the test message is marked deleted; the server has no UIDPLUS, so it goes at its next expunge"
    response = await mailbox.call(mailbox.client.uid("expunge", message_set), "UID EXPUNGE")
    require_ok(response, "UID EXPUNGE")
    return "the test message was deleted on the server (UID EXPUNGE)"


async def pop3_search(session: Pop3Mailbox, token: str, looked_at: set[str]) -> list[int]:
    """The numbers of the messages whose header block carries the token. The newest first and at
    most NEWEST_PER_POLL a poll (the test message was just sent), none read twice by UIDL: a large
    maildrop costs a few TOPs a poll, not one per message."""
    wanted = f"{TEST_HEADER}: {token}".lower().encode()
    found = []
    fresh = [listed for listed in reversed(await session.listing()) if listed.uidl not in looked_at]
    for listed in fresh[:NEWEST_PER_POLL]:
        header = await session.header_block(listed.number, HEADER_BYTES)
        if header is None:
            header = (await session.retrieve(listed.number, WHOLE_BYTES)).split(b"\r\n\r\n", 1)[0]
        if wanted in header.lower():
            found.append(listed.number)
        elif listed.uidl is not None:
            looked_at.add(listed.uidl)
    return found
