"""Dovecot and Postfix that check bearer tokens (O4, S2): what they accept and how they refuse.

Tokens are minted here with PyJWT and an RSA key of the test's own, shaped like the identity
provider's (RS256, `typ: JWT`, `kid`; `iss`, `aud`, `email`, `scope`, …), so these tests need
nothing but the mail servers. Introspection is answered by a small HTTPS endpoint on loopback
that knows which tokens were revoked.
"""

import base64
import imaplib
import json
import poplib
import secrets
import smtplib
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from mailbridge.testkit.oauth_mail import OAuthMailStack
from mailbridge.testkit.oauth_mail_clients import (
    BearerResponder,
    oauthbearer_string,
    pop3_authenticate,
    xoauth2_string,
)
from mailbridge.testkit.oauth_mail_config import (
    IMAP_SCOPE,
    OUTLOOK_RESOURCE,
    POP_SCOPE,
    SMTP_SCOPE,
    OAuth2Validation,
    ValidationMode,
)
from mailbridge.testkit.oauth_mail_fixtures import stack_parent
from mailbridge.testkit.pytest_plugin import require_mail_servers
from mailbridge.testkit.tls import DEFAULT_CACHE, TlsFiles, ensure_tls_files
from mailbridge.testkit.users import MailUser

ISSUER = "https://127.0.0.1/organizations/v2.0"
REJECTION = {"status": "401", "schemes": "bearer", "scope": "mail"}
"""Dovecot's error challenge for every refused token, whatever the reason."""


def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Minter:
    """Signs tokens like the identity provider's; `revoked` is what introspection calls inactive."""

    key: rsa.RSAPrivateKey = field(default_factory=_rsa_key)
    key_id: str = field(default_factory=lambda: secrets.token_hex(8))
    revoked: set[str] = field(default_factory=set)

    @property
    def public_pem(self) -> str:
        public = self.key.public_key()
        return public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    def token(self, login: str, *scopes: str, key: rsa.RSAPrivateKey | None = None, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "aud": OUTLOOK_RESOURCE, "sub": secrets.token_hex(8), "email": login,
                "preferred_username": login, "upn": login, "scope": " ".join(scopes),
                "iat": now, "nbf": now, "exp": now + 3600} | claims  # fmt: skip
        return jwt.encode(
            body, key or self.key, algorithm="RS256", headers={"kid": self.key_id, "typ": "JWT"}
        )

    def introspect(self, token: str) -> dict[str, Any]:
        """RFC 7662: the claims of a good token, `active: false` for anything else."""
        if token in self.revoked:
            return {"active": False}
        try:
            claims = jwt.decode(token, self.key.public_key(), algorithms=["RS256"], audience=OUTLOOK_RESOURCE)
        except jwt.PyJWTError:
            return {"active": False}
        return {"active": True, "token_type": "Bearer", **claims}


@pytest.fixture(scope="module")
def minter() -> Minter:
    return Minter()


@pytest.fixture(scope="module")
def tls() -> TlsFiles:
    return ensure_tls_files(DEFAULT_CACHE)


@pytest.fixture(scope="module")
def introspection_url(minter: Minter, tls: TlsFiles) -> Iterator[str]:
    """`https://127.0.0.1:<port>/introspect` with the stack's certificate, answered by `minter`."""

    class Introspection(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            form = urllib.parse.parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
            body = json.dumps(minter.introspect(form.get("token", [""])[0])).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Introspection)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls.server_cert, tls.server_key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}/introspect"
    server.shutdown()
    server.server_close()


def _stack(minter: Minter, mode: ValidationMode, url: str | None, tls: TlsFiles) -> OAuthMailStack:
    require_mail_servers()
    validation = OAuth2Validation(ISSUER, minter.key_id, minter.public_pem, url, tls.ca_cert)
    return OAuthMailStack(validation, mode, parent=stack_parent())


@pytest.fixture(scope="module")
def local_stack(minter: Minter, tls: TlsFiles) -> Iterator[OAuthMailStack]:
    with _stack(minter, ValidationMode.LOCAL, None, tls) as stack:
        yield stack


@pytest.fixture(scope="module")
def introspecting_stack(minter: Minter, introspection_url: str, tls: TlsFiles) -> Iterator[OAuthMailStack]:
    with _stack(minter, ValidationMode.INTROSPECTION, introspection_url, tls) as stack:
        yield stack


@dataclass(frozen=True)
class Outcome:
    ok: bool
    error: dict[str, Any] | None
    reply: str


def _text(reply: bytes | str) -> str:
    return reply.decode() if isinstance(reply, bytes) else reply


def imap_login(stack: OAuthMailStack, initial_response: str, mechanism: str = "XOAUTH2") -> Outcome:
    """IMAPS `AUTHENTICATE` in two steps, answering an error challenge with an empty line."""
    responder = BearerResponder(initial_response)
    with imaplib.IMAP4_SSL(stack.host, stack.ports.imaps, ssl_context=stack.client_context()) as session:
        try:
            status, data = session.authenticate(mechanism, responder.imap)
        except imaplib.IMAP4.error as refused:
            return Outcome(False, responder.error, str(refused))
        assert session.select("INBOX")[0] == "OK"
        return Outcome(status == "OK", responder.error, _text(data[0]))


def pop3_login(stack: OAuthMailStack, initial_response: str, *, inline: bool = True) -> Outcome:
    """POP3 on the plain port after STLS."""
    session = poplib.POP3(stack.host, stack.ports.pop3)
    try:
        session.stls(context=stack.client_context())
        reply = pop3_authenticate(session, "XOAUTH2", initial_response, inline=inline)
        if reply.ok:
            assert session.stat() == (0, 0)
        return Outcome(reply.ok, reply.error, reply.reply)
    finally:
        session.close()


def smtp_login(stack: OAuthMailStack, initial_response: str, *, port: int | None = None) -> Outcome:
    """Submission with STARTTLS (or smtps when `port` is its port), AUTH XOAUTH2 in two steps."""
    responder = BearerResponder(initial_response)
    context = stack.client_context()
    if port == stack.ports.smtps:
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(stack.host, port, context=context)
    else:
        smtp = smtplib.SMTP(stack.host, stack.ports.submission)
        smtp.starttls(context=context)
    with smtp:
        try:
            code, reply = smtp.auth("XOAUTH2", responder, initial_response_ok=False)
        except smtplib.SMTPAuthenticationError as refused:
            return Outcome(False, responder.error, f"{refused.smtp_code} {_text(refused.smtp_error)}")
        return Outcome(code == 235, responder.error, f"{code} {reply.decode()}")


def logged(stack: OAuthMailStack, *parts: str, timeout: float = 5.0) -> bool:
    """Whether a line of Dovecot's log holds every part, waiting for its log process (it may
    write a failure's reason after the client already has the reply)."""
    deadline = time.monotonic() + timeout
    while True:
        if any(all(part in line for part in parts) for line in stack.dovecot_log.read_text().splitlines()):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)


def refused_for(stack: OAuthMailStack, user: MailUser, reason: str) -> bool:
    return logged(stack, "oauth2 failed", f"({user.address},", reason)


def test_imap_xoauth2_with_a_valid_token_logs_in_o4(local_stack: OAuthMailStack, minter: Minter) -> None:
    user = local_stack.add_user()
    outcome = imap_login(local_stack, xoauth2_string(user.address, minter.token(user.address, IMAP_SCOPE)))
    assert outcome.ok
    assert outcome.error is None
    assert logged(local_stack, f"Login: user=<{user.address}>, method=XOAUTH2")


def test_imap_oauthbearer_with_a_valid_token_logs_in(local_stack: OAuthMailStack, minter: Minter) -> None:
    user = local_stack.add_user()
    token = minter.token(user.address, IMAP_SCOPE)
    assert imap_login(local_stack, oauthbearer_string(user.address, token), "OAUTHBEARER").ok


@pytest.mark.parametrize("inline", [True, False], ids=["inline", "two-step"])
def test_pop3_xoauth2_with_a_valid_token_logs_in_o4(
    local_stack: OAuthMailStack, minter: Minter, inline: bool
) -> None:
    user = local_stack.add_user()
    outcome = pop3_login(
        local_stack, xoauth2_string(user.address, minter.token(user.address, POP_SCOPE)), inline=inline
    )
    assert outcome == Outcome(True, None, "+OK Logged in.")


@pytest.mark.parametrize("port", ["submission", "smtps"])
def test_smtp_xoauth2_two_step_sends_mail_that_is_delivered_s2(
    local_stack: OAuthMailStack, minter: Minter, port: str
) -> None:
    user = local_stack.add_user()
    responder = BearerResponder(xoauth2_string(user.address, minter.token(user.address, SMTP_SCOPE)))
    message = EmailMessage()
    message["From"] = message["To"] = user.address
    message["Subject"] = f"sent with a token {secrets.token_hex(4)}"
    message.set_content("XOAUTH2 submission\n")
    context = local_stack.client_context()
    if port == "smtps":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(local_stack.host, local_stack.ports.smtps, context=context)
    else:
        smtp = smtplib.SMTP(local_stack.host, local_stack.ports.submission)
        smtp.starttls(context=context)
    with smtp:
        assert smtp.auth("XOAUTH2", responder, initial_response_ok=False)[0] == 235
        smtp.send_message(message)
    local_stack.wait_for_messages(user.address, 1)
    with local_stack.imap(user) as session:
        session.select("INBOX", readonly=True)
        _, data = session.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert message["Subject"] in str(data)
    assert f"sasl_method=XOAUTH2, sasl_username={user.address}" in local_stack.postfix_log.read_text()


def _expired(minter: Minter, login: str, scope: str) -> str:
    return minter.token(
        login, scope, iat=int(time.time()) - 7200, nbf=int(time.time()) - 7200, exp=int(time.time()) - 60
    )


def _forged(minter: Minter, login: str, scope: str) -> str:
    return minter.token(login, scope, key=_rsa_key())


def _other_user(minter: Minter, login: str, scope: str) -> str:
    return minter.token(f"other-{login}", scope)


def _without_scope(minter: Minter, login: str, scope: str) -> str:
    others = [candidate for candidate in (IMAP_SCOPE, POP_SCOPE, SMTP_SCOPE) if candidate != scope]
    return minter.token(login, *others)


def _other_audience(minter: Minter, login: str, scope: str) -> str:
    return minter.token(login, scope, aud="https://graph.microsoft.com")


def _other_issuer(minter: Minter, login: str, scope: str) -> str:
    return minter.token(login, scope, iss="https://login.example.test/organizations/v2.0")


BAD_TOKENS = {
    "expired": (_expired, "Token has expired"),
    "forged": (_forged, "Bad signature"),
    "other user": (_other_user, "did not match"),
    "scope missing": (_without_scope, "missing from token scope"),
    "other audience": (_other_audience, "client_id not found in aud field"),
    "other issuer": (_other_issuer, "is not allowed"),
}


@pytest.mark.parametrize("case", list(BAD_TOKENS))
def test_imap_refuses_a_bad_token_after_an_error_challenge_o4(
    local_stack: OAuthMailStack, minter: Minter, case: str
) -> None:
    """`+ <base64 JSON>` → empty line → `NO [AUTHENTICATIONFAILED]`; the reason only in the log."""
    make, reason = BAD_TOKENS[case]
    user = local_stack.add_user()
    token = make(minter, user.address, IMAP_SCOPE)
    outcome = imap_login(local_stack, xoauth2_string(user.address, token))
    assert not outcome.ok
    assert outcome.error == REJECTION
    assert "[AUTHENTICATIONFAILED] Authentication failed." in outcome.reply
    assert refused_for(local_stack, user, reason)


POP3_AND_SMTP: dict[str, tuple[Callable[[OAuthMailStack, str], Outcome], str, str]] = {
    "pop3 (O4)": (pop3_login, POP_SCOPE, "-ERR [AUTH] Authentication failed."),
    "smtp (S2)": (smtp_login, SMTP_SCOPE, "535 5.7.8 Error: authentication failed: (reason unavailable)"),
}


@pytest.mark.parametrize("protocol", list(POP3_AND_SMTP))
@pytest.mark.parametrize("case", ["expired", "forged", "other user", "scope missing"])
def test_pop3_and_smtp_refuse_a_bad_token_after_an_error_challenge(
    local_stack: OAuthMailStack, minter: Minter, case: str, protocol: str
) -> None:
    """POP3 `+ <base64 JSON>`, SMTP `334 <base64 JSON>`; after the empty line, the failure."""
    make, reason = BAD_TOKENS[case]
    login, scope, failure = POP3_AND_SMTP[protocol]
    user = local_stack.add_user()
    outcome = login(local_stack, xoauth2_string(user.address, make(minter, user.address, scope)))
    assert outcome == Outcome(False, REJECTION, failure)
    assert refused_for(local_stack, user, reason)


def test_each_protocol_demands_its_own_scope_and_no_other(
    local_stack: OAuthMailStack, minter: Minter
) -> None:
    user = local_stack.add_user()
    imap_only = xoauth2_string(user.address, minter.token(user.address, IMAP_SCOPE))
    assert imap_login(local_stack, imap_only).ok
    assert not pop3_login(local_stack, imap_only).ok
    assert not smtp_login(local_stack, imap_only).ok
    every = xoauth2_string(user.address, minter.token(user.address, IMAP_SCOPE, POP_SCOPE, SMTP_SCOPE))
    assert imap_login(local_stack, every).ok
    assert pop3_login(local_stack, every).ok
    assert smtp_login(local_stack, every, port=local_stack.ports.smtps).ok


def test_passwords_still_work_beside_tokens(local_stack: OAuthMailStack) -> None:
    user = local_stack.add_user()
    with local_stack.imap(user) as session:
        assert session.select("INBOX")[0] == "OK"
    with smtplib.SMTP_SSL(
        local_stack.host, local_stack.ports.smtps, context=local_stack.client_context()
    ) as smtp:
        assert smtp.login(user.address, user.password)[0] == 235


def test_a_token_is_not_a_password(local_stack: OAuthMailStack, minter: Minter) -> None:
    user = local_stack.add_user()
    context = local_stack.client_context()
    with (
        imaplib.IMAP4_SSL(local_stack.host, local_stack.ports.imaps, ssl_context=context) as session,
        pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"),
    ):
        session.login(user.address, minter.token(user.address, IMAP_SCOPE))


def test_smtp_inline_xoauth2_is_cut_at_postfix_line_length_limit(
    local_stack: OAuthMailStack, minter: Minter
) -> None:
    """A command line of more than 2,048 characters fails (535); the two-step form takes it."""
    user = local_stack.add_user()
    token = minter.token(user.address, SMTP_SCOPE, padding="p" * 1200)  # Microsoft's are ~2 KB too
    encoded = base64.b64encode(xoauth2_string(user.address, token).encode()).decode()
    assert len(f"AUTH XOAUTH2 {encoded}") > 2048
    with smtplib.SMTP_SSL(
        local_stack.host, local_stack.ports.smtps, context=local_stack.client_context()
    ) as smtp:
        smtp.ehlo()
        assert smtp.docmd("AUTH", f"XOAUTH2 {encoded}")[0] == 535
    assert smtp_login(local_stack, xoauth2_string(user.address, token), port=local_stack.ports.smtps).ok
    small = xoauth2_string(user.address, minter.token(user.address, SMTP_SCOPE))
    with smtplib.SMTP_SSL(
        local_stack.host, local_stack.ports.smtps, context=local_stack.client_context()
    ) as smtp:
        smtp.ehlo()
        assert smtp.docmd("AUTH", f"XOAUTH2 {base64.b64encode(small.encode()).decode()}")[0] == 235


def imap_sasl_ir(stack: OAuthMailStack, initial_response: str) -> bytes:
    """RFC 4959 `AUTHENTICATE XOAUTH2 <base64>` in one line; the server's next line (b"": closed)."""
    raw = socket.create_connection((stack.host, stack.ports.imaps))
    with stack.client_context().wrap_socket(raw, server_hostname="localhost") as session:
        reader = session.makefile("rb")
        assert b"SASL-IR" in reader.readline()
        encoded = base64.b64encode(initial_response.encode())
        session.sendall(b"a AUTHENTICATE XOAUTH2 " + encoded + b"\r\n")
        return reader.readline()


def test_imap_takes_the_token_inline_up_to_dovecots_login_buffer(
    local_stack: OAuthMailStack, minter: Minter
) -> None:
    """SASL-IR works; a response past Dovecot's ~8 KB login buffer closes the connection, no reply."""
    user = local_stack.add_user()
    usual = minter.token(user.address, IMAP_SCOPE, padding="p" * 3000)  # ~6 KB in base64: fine
    assert imap_sasl_ir(local_stack, xoauth2_string(user.address, usual)).startswith(b"a OK ")
    huge = minter.token(user.address, IMAP_SCOPE, padding="p" * 6000)
    assert imap_sasl_ir(local_stack, xoauth2_string(user.address, huge)) == b""
    assert logged(local_stack, "Authentication response too large")


def test_imap_error_challenge_answered_with_a_star_cancels(
    local_stack: OAuthMailStack, minter: Minter
) -> None:
    user = local_stack.add_user()
    token = base64.b64encode(
        xoauth2_string(user.address, _expired(minter, user.address, IMAP_SCOPE)).encode()
    )
    raw = socket.create_connection((local_stack.host, local_stack.ports.imaps))
    with local_stack.client_context().wrap_socket(raw, server_hostname="localhost") as session:
        reader = session.makefile("rb")
        reader.readline()
        session.sendall(b"a AUTHENTICATE XOAUTH2 " + token + b"\r\n")
        challenge = reader.readline()
        assert json.loads(base64.b64decode(challenge.removeprefix(b"+ "))) == REJECTION
        session.sendall(b"*\r\n")
        assert reader.readline() == b"a BAD Authentication aborted by client.\r\n"


def test_tokens_of_a_client_are_accepted_once_its_azp_is_trusted(
    local_stack: OAuthMailStack, minter: Minter
) -> None:
    """Entra's tokens carry `azp` (the client id); Dovecot looks the key up under it."""
    user = local_stack.add_user()
    client_id = f"client/{secrets.token_hex(4)}%"
    token = xoauth2_string(user.address, minter.token(user.address, IMAP_SCOPE, azp=client_id))
    assert not imap_login(local_stack, token).ok
    assert refused_for(local_stack, user, "not found")  # "RS256 key '<kid>' not found"
    local_stack.trust_authorized_party(client_id)
    assert imap_login(local_stack, token).ok


def test_no_token_reaches_the_logs(local_stack: OAuthMailStack, minter: Minter) -> None:
    user = local_stack.add_user()
    good, bad = minter.token(user.address, SMTP_SCOPE), _expired(minter, user.address, SMTP_SCOPE)
    assert smtp_login(local_stack, xoauth2_string(user.address, good)).ok
    assert not smtp_login(local_stack, xoauth2_string(user.address, bad)).ok
    assert refused_for(local_stack, user, "Token has expired")  # the refusal is logged by now
    logs = local_stack.dovecot_log.read_text() + local_stack.postfix_log.read_text()
    for token in (good, bad):
        assert token.split(".")[2][:20] not in logs
        assert token.split(".")[1][:20] not in logs


def test_introspection_logs_in_on_every_protocol_o4_s2(
    introspecting_stack: OAuthMailStack, minter: Minter
) -> None:
    user = introspecting_stack.add_user()
    assert imap_login(
        introspecting_stack, xoauth2_string(user.address, minter.token(user.address, IMAP_SCOPE))
    ).ok
    assert pop3_login(
        introspecting_stack, xoauth2_string(user.address, minter.token(user.address, POP_SCOPE))
    ).ok
    assert smtp_login(
        introspecting_stack, xoauth2_string(user.address, minter.token(user.address, SMTP_SCOPE))
    ).ok


def test_introspection_sees_a_revoked_token_at_the_next_login_o4(
    introspecting_stack: OAuthMailStack, minter: Minter
) -> None:
    user = introspecting_stack.add_user()
    token = minter.token(user.address, IMAP_SCOPE, SMTP_SCOPE)
    assert imap_login(introspecting_stack, xoauth2_string(user.address, token)).ok
    minter.revoked.add(token)
    outcome = imap_login(introspecting_stack, xoauth2_string(user.address, token))
    assert outcome == Outcome(False, REJECTION, outcome.reply)
    assert "[AUTHENTICATIONFAILED]" in outcome.reply
    assert not smtp_login(introspecting_stack, xoauth2_string(user.address, token)).ok
    assert refused_for(introspecting_stack, user, "Introspection failed: Provided token is not valid")


@pytest.mark.parametrize("case", ["other user", "scope missing", "forged"])
def test_introspection_refuses_what_local_validation_refuses(
    introspecting_stack: OAuthMailStack, minter: Minter, case: str
) -> None:
    make, _ = BAD_TOKENS[case]
    user = introspecting_stack.add_user()
    outcome = imap_login(
        introspecting_stack, xoauth2_string(user.address, make(minter, user.address, IMAP_SCOPE))
    )
    assert not outcome.ok
    assert outcome.error == REJECTION
    assert refused_for(introspecting_stack, user, "Introspection failed")
