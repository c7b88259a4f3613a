"""AUTHENTICATE XOAUTH2 on the wire (S2), against a scripted server that checks the SASL string:
the SASL-IR and the continuation form, ENABLE UTF8=ACCEPT afterwards, and a refused token that
ends at once with the server's words instead of hanging until a timeout (the error challenge is
answered with an empty line, as aioimaplib's own xoauth2() never does)."""

import asyncio
import base64
import json
import time
from dataclasses import dataclass

import pytest
from mailbridge.common.endpoints import Endpoint, TransportSecurity
from mailbridge.common.xoauth2 import initial_response
from mailbridge.fetcher.adapters.imap import ImapMailbox
from mailbridge.fetcher.adapters.imap_sasl import SaslCommand
from mailbridge.fetcher.failures import FetchFailure, Kind, TokenRejected
from mailbridge.fetcher.model import Credentials, Mechanism
from mailbridge.testkit.hostile import Conversation, HostileServer

CRLF = b"\r\n"
LOGIN, GOOD = "ann@example.org", "good-token"
CHALLENGE = base64.b64encode(json.dumps({"status": "401", "schemes": "bearer", "scope": "mail"}).encode())
TIMEOUT_S = 5.0


@dataclass
class XOAuth2Server:
    """Greets, offers XOAUTH2 (and SASL-IR when `sasl_ir`), takes only `GOOD`'s SASL string;
    a wrong one gets the error challenge, then `NO` once the client answered it."""

    sasl_ir: bool = True
    refusal: bytes = b"NO [AUTHENTICATIONFAILED] Authentication failed."

    async def __call__(self, conversation: Conversation) -> None:
        await conversation.send(b"* OK ready" + CRLF)
        while True:
            tag, _, rest = (await conversation.line()).partition(b" ")
            words = rest.split(b" ")
            verb = words[0].upper()
            if verb == b"CAPABILITY":
                offer = b" SASL-IR" if self.sasl_ir else b""
                said = b"* CAPABILITY IMAP4rev1 AUTH=XOAUTH2 ENABLE UTF8=ACCEPT" + offer
                await conversation.send(said + CRLF + tag + b" OK done" + CRLF)
            elif verb == b"AUTHENTICATE":
                if len(words) > 2:
                    sasl = words[2]
                else:
                    await conversation.send(b"+ " + CRLF)
                    sasl = await conversation.line()
                if sasl == initial_response(LOGIN, GOOD):
                    await conversation.send(tag + b" OK logged in" + CRLF)
                    continue
                await conversation.send(b"+ " + CHALLENGE + CRLF)
                if await conversation.line() == b"":
                    await conversation.send(tag + b" " + self.refusal + CRLF)
            elif verb == b"ENABLE":
                await conversation.send(b"* ENABLED UTF8=ACCEPT" + CRLF + tag + b" OK done" + CRLF)
            elif verb == b"LOGOUT":
                await conversation.send(b"* BYE bye" + CRLF + tag + b" OK done" + CRLF)
                return
            else:
                await conversation.send(tag + b" BAD what" + CRLF)


def endpoint(server: HostileServer) -> Endpoint:
    return Endpoint(server.host, server.port, TransportSecurity.NONE, None, TIMEOUT_S)


@pytest.mark.parametrize("sasl_ir", [True, False])
async def test_s2_a_good_token_logs_in_and_utf8_is_enabled(sasl_ir: bool) -> None:
    with HostileServer(XOAuth2Server(sasl_ir=sasl_ir)) as server:
        async with ImapMailbox(endpoint(server)) as mailbox:
            await mailbox.open(Credentials(LOGIN, GOOD, Mechanism.XOAUTH2))
            assert mailbox.usable
            assert mailbox.utf8_accept
    authenticate = [line for line in server.received if b"AUTHENTICATE" in line]
    assert len(authenticate) == 1
    assert authenticate[0].endswith(
        b"AUTHENTICATE XOAUTH2" + (b" " + initial_response(LOGIN, GOOD) if sasl_ir else b"")
    )
    assert any(line.endswith(b"ENABLE UTF8=ACCEPT") for line in server.received)


@pytest.mark.parametrize("sasl_ir", [True, False])
async def test_s2_a_refused_token_ends_at_once_with_the_servers_words(sasl_ir: bool) -> None:
    with HostileServer(XOAuth2Server(sasl_ir=sasl_ir)) as server:
        started = time.monotonic()
        async with ImapMailbox(endpoint(server)) as mailbox:
            with pytest.raises(TokenRejected) as refused:
                await mailbox.open(Credentials(LOGIN, "expired-token", Mechanism.XOAUTH2))
        took = time.monotonic() - started
    assert refused.value.kind is Kind.PERMANENT
    assert refused.value.reason == (
        f"OAuth login as {LOGIN} rejected: [AUTHENTICATIONFAILED] Authentication failed. "
        "(status 401, scope mail)"
    )
    assert took < TIMEOUT_S, "answered, not waited out"
    assert server.received[-1] == b"", "the error challenge is answered with an empty line"


async def test_s2_a_throttled_oauth_login_is_transient_not_a_refused_token() -> None:
    script = XOAuth2Server(refusal=b"NO [UNAVAILABLE] Server Unavailable. 15")
    with HostileServer(script) as server:
        async with ImapMailbox(endpoint(server)) as mailbox:
            with pytest.raises(FetchFailure) as refused:
                await mailbox.open(Credentials(LOGIN, "any", Mechanism.XOAUTH2))
    assert not isinstance(refused.value, TokenRejected)
    assert refused.value.kind is Kind.TRANSIENT


async def test_s2_a_server_that_keeps_challenging_is_given_up() -> None:
    async def stalling(conversation: Conversation) -> None:
        await conversation.send(b"* OK ready" + CRLF)
        while True:
            tag, _, rest = (await conversation.line()).partition(b" ")
            if rest.upper().startswith(b"CAPABILITY"):
                await conversation.send(
                    b"* CAPABILITY IMAP4rev1 AUTH=XOAUTH2" + CRLF + tag + b" OK done" + CRLF
                )
            else:
                while True:
                    await conversation.send(b"+ " + CRLF)
                    await conversation.line()

    with HostileServer(stalling) as server:
        async with ImapMailbox(endpoint(server)) as mailbox:
            with pytest.raises(FetchFailure) as failed:
                await mailbox.open(Credentials(LOGIN, GOOD, Mechanism.XOAUTH2))
    assert "kept sending challenges" in failed.value.reason
    assert failed.value.kind is Kind.TRANSIENT


async def test_the_sasl_string_is_in_neither_the_commands_repr_nor_its_args() -> None:
    command = SaslCommand(
        "A1", "XOAUTH2", initial=b"c2VjcmV0", answers=(b"c2VjcmV0",), loop=asyncio.get_running_loop()
    )
    assert "c2VjcmV0" not in repr(command) + str(command) + str(command.args)
