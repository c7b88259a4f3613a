"""SMTP AUTH XOAUTH2 on the wire (S2), against a scripted server that takes only the two-step form:
the token on a line of its own after `334`, the error challenge answered with an empty line, one
more token after a refused one (asked for with the refused one's fingerprint) and no more, and the
broker's refusals before any AUTH."""

import base64
import json
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import pytest
from mailbridge.common.oauth_requests import (
    AccessTokenGranted,
    AccessTokenRefused,
    Refusal,
    TokenReply,
    token_fingerprint,
)
from mailbridge.common.tls import client_context
from mailbridge.common.xoauth2 import initial_response
from mailbridge.sender.adapters.smtp import SmtpPool, send
from mailbridge.sender.adapters.smtp_xoauth2 import SignIn
from mailbridge.sender.model import Verdict
from mailbridge.sender.outgoing import SmtpTarget
from mailbridge.sender.ports import Built
from mailbridge.testkit.hostile import Conversation, HostileServer

CRLF = b"\r\n"
LOGIN, GOOD = "ann@example.org", "good-token"
CHALLENGE = base64.b64encode(json.dumps({"status": "401", "schemes": "bearer", "scope": "mail"}).encode())
BUILT = Built(b"Subject: hi\r\n\r\nHello.\r\n", "<m@x>", LOGIN, ("bob@example.org",))


async def submission(conversation: Conversation) -> None:
    """Greets, offers AUTH XOAUTH2, refuses it inline, takes only GOOD's SASL string, then a mail."""
    await conversation.send(b"220 ready" + CRLF)
    while True:
        line = await conversation.line()
        verb = line.split(b" ", 1)[0].upper()
        if verb == b"EHLO":
            await conversation.send(b"250-hello\r\n250-AUTH PLAIN XOAUTH2\r\n250 8BITMIME" + CRLF)
        elif line.upper() == b"AUTH XOAUTH2":
            await conversation.send(b"334 " + CRLF)
            if await conversation.line() == initial_response(LOGIN, GOOD):
                await conversation.send(b"235 2.7.0 Authentication successful" + CRLF)
                continue
            await conversation.send(b"334 " + CHALLENGE + CRLF)
            if await conversation.line() == b"":
                await conversation.send(b"535 5.7.8 Error: authentication failed" + CRLF)
        elif verb == b"AUTH":
            await conversation.send(b"500 5.5.2 Line too long" + CRLF)
        elif verb in (b"MAIL", b"RCPT"):
            await conversation.send(b"250 ok" + CRLF)
        elif verb == b"DATA":
            await conversation.send(b"354 go on" + CRLF)
            while await conversation.line() != b".":
                pass
            await conversation.send(b"250 2.0.0 queued" + CRLF)
        elif verb == b"QUIT":
            await conversation.send(b"221 bye" + CRLF)
            return
        else:
            await conversation.send(b"502 what" + CRLF)


@dataclass
class Tokens:
    """Hands out `tokens` in turn, or refuses with `refusal`; keeps what it was asked."""

    tokens: list[str] = field(default_factory=lambda: [GOOD])
    refusal: Refusal | None = None
    asked: list[str | None] = field(default_factory=list)

    async def access_token(self, account_id: uuid.UUID, rejected: str | None = None) -> TokenReply:
        self.asked.append(rejected)
        if self.refusal is not None:
            return AccessTokenRefused(account_id=account_id, error=self.refusal, detail="consent revoked")
        token = self.tokens[min(len(self.asked), len(self.tokens)) - 1]
        return AccessTokenGranted(account_id=account_id, access_token=token, expires_at=datetime.now(UTC))


def target(server: HostileServer) -> SmtpTarget:
    return SmtpTarget(server.host, server.port, "none", True, LOGIN, None, uuid.uuid4(), oauth=True)


async def test_s2_a_token_is_sent_in_the_two_step_form_and_the_mail_goes() -> None:
    tokens = Tokens()
    with HostileServer(submission) as server:
        result = await send(target(server), BUILT, client_context(None), 5.0, SignIn(tokens))
    assert (result.outcome, result.reply) == (Verdict.DONE, "250 2.0.0 queued")
    assert server.received[1:3] == [b"AUTH XOAUTH2", initial_response(LOGIN, GOOD)]
    assert tokens.asked == [None]


async def test_s2_a_refused_token_is_asked_for_again_once_and_the_fresh_one_logs_in() -> None:
    tokens = Tokens(["expired", GOOD])
    with HostileServer(submission) as server:
        result = await send(target(server), BUILT, client_context(None), 5.0, SignIn(tokens))
    assert result.outcome is Verdict.DONE
    assert tokens.asked == [None, token_fingerprint("expired")]
    assert server.received[1:6] == [
        b"AUTH XOAUTH2",
        initial_response(LOGIN, "expired"),
        b"",
        b"AUTH XOAUTH2",
        initial_response(LOGIN, GOOD),
    ], "the error challenge answered with an empty line, then AUTH once more on the same connection"


async def test_s2_a_fresh_token_refused_too_ends_the_attempt_and_keeps_the_mail_for_the_next() -> None:
    tokens = Tokens(["expired", "still-bad"])
    with HostileServer(submission) as server:
        result = await send(target(server), BUILT, client_context(None), 5.0, SignIn(tokens))
    assert result.outcome is Verdict.RETRY
    assert result.reply == (
        f"login as {LOGIN} at {server.host}:{server.port} with an OAuth token rejected, a refreshed one too: "
        "535 5.7.8 Error: authentication failed (status 401, scope mail)"
    )
    assert tokens.asked == [None, token_fingerprint("expired")]
    assert sum(line == b"AUTH XOAUTH2" for line in server.received) == 2
    assert not [line for line in server.received if line.upper().startswith(b"MAIL")]


@pytest.mark.parametrize(
    ("refusal", "verdict", "reply"),
    [
        (Refusal.NEEDS_RECONNECT, Verdict.GIVE_UP,
         f"the account {LOGIN} must be connected again at its OAuth provider (O4): consent revoked"),
        (Refusal.NOT_CONNECTED, Verdict.GIVE_UP,
         f"the account {LOGIN} must be connected at its OAuth provider (O4): consent revoked"),
        (Refusal.UNAVAILABLE, Verdict.RETRY, f"no OAuth access token for {LOGIN} for now: consent revoked"),
        (Refusal.BAD_REQUEST, Verdict.GIVE_UP,
         "the OAuth broker refused the token request (bad_request): consent revoked"),
    ],
)  # fmt: skip
async def test_o4_a_broker_refusal_ends_the_send_before_any_auth(
    refusal: Refusal, verdict: Verdict, reply: str
) -> None:
    tokens = Tokens(refusal=refusal)
    with HostileServer(submission) as server:
        result = await send(target(server), BUILT, client_context(None), 5.0, SignIn(tokens))
    assert (result.outcome, result.reply) == (verdict, reply)
    assert tokens.asked == [None]
    assert not [line for line in server.received if line.upper().startswith(b"AUTH")]


async def test_s5_a_target_without_oauth_logs_in_with_its_password() -> None:
    tokens = Tokens()
    with HostileServer(submission) as server:
        plain = SmtpTarget(server.host, server.port, "none", True, LOGIN, "pw")
        await send(plain, BUILT, client_context(None), 5.0, SignIn(tokens))
    assert tokens.asked == []
    assert any(line.startswith(b"AUTH PLAIN") for line in server.received)


async def test_s2_pooled_connections_of_an_oauth_login_are_never_another_accounts() -> None:
    tokens = Tokens()
    pool = SmtpPool(client_context(None), timeout_s=5.0, authenticate=SignIn(tokens))
    with HostileServer(submission) as server:
        first = target(server)
        second = replace(first, account_id=uuid.uuid4())  # the same login on the same server
        try:
            for sending in (first, first, second):
                assert (await pool.send(sending, BUILT)).outcome is Verdict.DONE
        finally:
            await pool.close()
    assert sum(line == b"AUTH XOAUTH2" for line in server.received) == 2, "one login per account"
    assert len(tokens.asked) == 2
