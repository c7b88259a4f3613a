"""POP3 AUTH XOAUTH2 on the wire (S2, RFC 5034), against a scripted server: the two-step form, a
refused token (its error challenge answered with an empty line) as TokenRejected quoting the
server, and a server without XOAUTH2 as a plain refusal that no second token can mend."""

import base64

import pytest
from mailbridge.common.endpoints import Endpoint, TransportSecurity
from mailbridge.common.xoauth2 import initial_response
from mailbridge.fetcher.adapters.pop3 import Pop3Mailbox
from mailbridge.fetcher.failures import FetchFailure, Kind, TokenRejected
from mailbridge.fetcher.model import Credentials, Mechanism
from mailbridge.testkit.hostile import Conversation, HostileServer, Script

CRLF = b"\r\n"
LOGIN, GOOD = "ann@example.org", "good-token"
CHALLENGE = base64.b64encode(b'{"status":"401","schemes":"bearer","scope":"mail"}')


def pop3(offers_xoauth2: bool = True) -> Script:
    async def script(conversation: Conversation) -> None:
        await conversation.send(b"+OK ready" + CRLF)
        while True:
            line = await conversation.line()
            if line == b"CAPA":
                await conversation.send(b"+OK\r\nUIDL\r\nSASL XOAUTH2\r\n." + CRLF)
            elif line == b"AUTH XOAUTH2" and offers_xoauth2:
                await conversation.send(b"+ " + CRLF)
                if await conversation.line() == initial_response(LOGIN, GOOD):
                    await conversation.send(b"+OK logged in" + CRLF)
                    continue
                await conversation.send(b"+ " + CHALLENGE + CRLF)
                if await conversation.line() == b"":
                    await conversation.send(b"-ERR [AUTH] Authentication failed." + CRLF)
            elif line.startswith(b"AUTH"):
                await conversation.send(b"-ERR Unsupported authentication mechanism." + CRLF)
            elif line in (b"QUIT", b"RSET"):
                await conversation.send(b"+OK" + CRLF)
                if line == b"QUIT":
                    return
            else:
                await conversation.send(b"-ERR what" + CRLF)

    return script


async def sign_in(server: HostileServer, token: str) -> Pop3Mailbox:
    mailbox = Pop3Mailbox(Endpoint(server.host, server.port, TransportSecurity.NONE, None, 5.0))
    try:
        await mailbox.connect_and_sign_in(Credentials(LOGIN, token, Mechanism.XOAUTH2))
    finally:
        await mailbox.close()
    return mailbox


async def test_s2_a_good_token_logs_in_in_two_steps() -> None:
    with HostileServer(pop3()) as server:
        await sign_in(server, GOOD)
    assert server.received[1:3] == [b"AUTH XOAUTH2", initial_response(LOGIN, GOOD)]


async def test_s2_a_refused_token_is_token_rejected_quoting_the_server() -> None:
    with HostileServer(pop3()) as server, pytest.raises(TokenRejected) as refused:
        await sign_in(server, "expired")
    assert refused.value.reason == (
        f"login as {LOGIN} with an OAuth token at {server.host}:{server.port} rejected: "
        '"-ERR [AUTH] Authentication failed." (status 401, scope mail)'
    )
    assert server.received[3] == b"", "the error challenge is answered with an empty line"


async def test_s2_a_server_without_xoauth2_is_a_permanent_refusal_no_token_can_mend() -> None:
    with HostileServer(pop3(offers_xoauth2=False)) as server, pytest.raises(FetchFailure) as refused:
        await sign_in(server, GOOD)
    assert not isinstance(refused.value, TokenRejected)
    assert refused.value.kind is Kind.PERMANENT
    assert "Unsupported authentication mechanism" in refused.value.reason
    assert initial_response(LOGIN, GOOD) not in server.received, "the token never went out"
