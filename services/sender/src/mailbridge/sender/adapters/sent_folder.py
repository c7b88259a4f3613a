"""Append a sent mail to the account's IMAP Sent folder, once (S10), over aioimaplib.

Idempotent by its Message-ID, which is derived from the outbox id (`mime.message_id`): before
APPEND, `UID SEARCH HEADER Message-ID` looks for a copy in the folder, and a copy found means
an earlier attempt appended it and crashed before recording that, so nothing is done. Two
appends of the same row at the same moment are prevented by the outbox claim, not here.

The IMAP server is reached with the transport security of the account's server settings (S9,
`Endpoint.security`; the trust and the timeout are the sender's own). aioimaplib 2.0 has no
STARTTLS call, so the command is sent by hand and the transport upgraded with `start_tls`.

On a server with an OAuth provider (S2) the login is AUTHENTICATE XOAUTH2 with a token from the
broker (`imap_xoauth2`), with one more token after a refused one, as for SMTP; the broker's
refusals decide as they do for the send (`token_refusals`).
"""

import asyncio
import ssl
from collections.abc import Awaitable, Callable

from aioimaplib import IMAP4, IMAP4_SSL, AioImapException, Command, Response
from mailbridge.common.certificates import certificate_problem
from mailbridge.common.endpoints import Endpoint, HostPort, TransportSecurity
from mailbridge.common.imap_text import encode_mailbox, parse_search, quoted
from mailbridge.common.oauth_requests import AccessTokenGranted, token_fingerprint
from mailbridge.sender.adapters.imap_xoauth2 import xoauth2
from mailbridge.sender.model import Verdict
from mailbridge.sender.outgoing import SmtpTarget
from mailbridge.sender.ports import SentFolderFailure, TokenSource
from mailbridge.sender.token_refusals import broker_refusal

RETRY, GIVE_UP = Verdict.RETRY, Verdict.GIVE_UP
SignIn = Callable[[IMAP4], Awaitable[None]]  # logs in on a greeted (and encrypted) client


class ImapSentFolder:
    """The `SentFolder` port: the account's SMTP login and password (or OAuth token, from
    `tokens`) are its IMAP login."""

    def __init__(
        self, tls: ssl.SSLContext, timeout_s: float = 30.0, tokens: TokenSource | None = None
    ) -> None:
        self._tls, self._timeout_s, self._tokens = tls, timeout_s, tokens

    async def append_once(
        self, target: SmtpTarget, imap: Endpoint, folder: str, raw: bytes, message_id: str
    ) -> None:
        if not target.oauth and target.password is None:
            raise SentFolderFailure(GIVE_UP, f"no password stored for {target.login}")
        sign_in = (lambda client: self._xoauth2(client, target)) if target.oauth else None
        await append_once(
            imap.host, imap.port, imap.security, self._tls, target.login, target.password or "",
            folder, raw, message_id, self._timeout_s, sign_in=sign_in,
        )  # fmt: skip

    async def _xoauth2(self, client: IMAP4, target: SmtpTarget) -> None:
        token = await self._token(target, None)
        response = await xoauth2(client, target.login, token)
        if response.result != "OK":  # refused: one more token, refreshed by the broker
            fresh = await self._token(target, token_fingerprint(token))
            response = await xoauth2(client, target.login, fresh)
        _require(response, f"OAuth login as {target.login}", failing=RETRY)

    async def _token(self, target: SmtpTarget, rejected: str | None) -> str:
        if self._tokens is None or target.account_id is None:
            raise SentFolderFailure(GIVE_UP, "no OAuth broker to ask for a token")
        reply = await self._tokens.access_token(target.account_id, rejected)
        if isinstance(reply, AccessTokenGranted):
            return reply.access_token
        refused = broker_refusal(reply, target.login)
        raise SentFolderFailure(refused.outcome, refused.reply)


async def append_once(
    host: str, port: int, security: TransportSecurity, tls: ssl.SSLContext, login: str, password: str,
    folder: str, raw: bytes, message_id: str, timeout_s: float = 30.0, *, sign_in: SignIn | None = None,
) -> bool:  # fmt: skip
    """True when appended, False when the folder already holds a mail with this Message-ID;
    `sign_in` instead of LOGIN with `password` (XOAUTH2)."""
    if security is TransportSecurity.IMPLICIT_TLS:
        client: IMAP4 = IMAP4_SSL(host, port, timeout=timeout_s, ssl_context=tls)
    else:
        client = IMAP4(host, port, timeout=timeout_s)
    try:
        await client.wait_hello_from_server()
        if security is not TransportSecurity.IMPLICIT_TLS:
            await _starttls(client, tls, host)
        if sign_in is not None:
            await sign_in(client)
        else:
            _require((await client.login(login, password)), f"login as {login}", failing=GIVE_UP)
        mailbox = encode_mailbox(folder)
        if (await client.select(mailbox)).result != "OK":
            # A new account often has no Sent folder yet; the first sent mail creates it.
            _require(await client.create(mailbox), f"CREATE {folder!r}", failing=GIVE_UP)
            _require(await client.select(mailbox), f"SELECT {folder!r}", failing=RETRY)
        found = await client.uid_search("HEADER", "Message-ID", quoted(message_id), charset=None)
        _require(found, f"SEARCH in {folder!r}", failing=RETRY)
        if parse_search(found.lines):
            return False
        _require(await client.append(raw, mailbox, flags=r"(\Seen)"), f"APPEND to {folder!r}", failing=RETRY)
        return True
    except ssl.SSLCertVerificationError as error:  # #17: the verdict and reason of every service
        reason = certificate_problem(error, str(HostPort(host, port))).reason
        raise SentFolderFailure(GIVE_UP, reason) from error
    except (OSError, TimeoutError, AioImapException) as error:
        raise SentFolderFailure(RETRY, f"IMAP {host}:{port}: {error or type(error).__name__}") from error
    finally:
        await _logout(client)


async def _starttls(client: IMAP4, tls: ssl.SSLContext, host: str) -> None:
    protocol = client.protocol
    if "STARTTLS" not in protocol.capabilities:
        raise SentFolderFailure(GIVE_UP, f"{host} does not offer STARTTLS; refusing to log in in clear")
    _require(await protocol.execute(Command("STARTTLS", protocol.new_tag(), loop=protocol.loop)),
             "STARTTLS", failing=RETRY)  # fmt: skip
    loop = asyncio.get_running_loop()
    protocol.transport = await loop.start_tls(protocol.transport, protocol, tls, server_hostname=host)
    await protocol.capability()  # RFC 3501 §6.2.1: capabilities from before TLS are void


def _require(response: Response, what: str, *, failing: Verdict) -> None:
    if response.result != "OK":
        text = b" ".join(bytes(line) for line in response.lines).decode(errors="replace")[:300]
        raise SentFolderFailure(failing, f"IMAP {what} answered {response.result}: {text}")


async def _logout(client: IMAP4) -> None:
    try:
        if client.get_state() in ("AUTH", "SELECTED"):
            await asyncio.wait_for(client.logout(), 5)
    except (OSError, TimeoutError, AioImapException):
        pass
    finally:
        transport = client.protocol.transport if client.protocol else None
        if transport is not None:
            transport.close()
