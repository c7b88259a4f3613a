"""`OAuthMailStack`: the test stack whose IMAP, POP3 and SMTP AUTH accept bearer tokens (O4, S2).

The same Dovecot and Postfix as `MailStack` (users, seeding, ports, logs), plus Dovecot's
`passdb oauth2` for XOAUTH2 and OAUTHBEARER, checked against the tests' identity provider in
the `ValidationMode` asked for (see `oauth_mail_config`). PLAIN and LOGIN still work with the
users' passwords; the bearer mechanisms never look at a password.

What the servers accept, as measured on Debian 12 (Dovecot 2.3.19, Postfix 3.7; the base64
XOAUTH2 string of the local identity provider's ~1,200-character JWT is ~1,700 characters):
- IMAP `AUTHENTICATE XOAUTH2` (SASL-IR inline, or `+ ` then the token line) and POP3
  `AUTH XOAUTH2` (inline, or `+ ` then the line): both forms, up to Dovecot's login buffer of
  8 KB — a 6,300-character response passes; at 11,600 the login process logs "Authentication
  response too large" and closes the connection without a reply.
- SMTP (Postfix submission after STARTTLS, and smtps) `AUTH XOAUTH2`: the two-step form
  (`AUTH XOAUTH2`, `334 `, token line) takes up to `smtpd_sasl_response_limit` (12,288
  characters; beyond: `500 5.5.6 SASL response limit exceeded`). The inline form
  `AUTH XOAUTH2 <base64>` is one command line, cut at `line_length_limit` (2,048): longer, it
  fails with `535 5.7.8 Error: authentication failed:` ("request longer than 2048" and "Invalid
  base64 data in initial response" in maillog). Send two-step. (Dovecot's own submission
  service, which the issue found refusing inline responses over ~1 KB, is not used here: it
  cannot hand mail to LMTP.)

A rejected token, on every protocol, first gets an error challenge — base64 of Dovecot's
`{"status":"401","schemes":"bearer","scope":"mail"}` — that the client must answer with an
empty line; only then comes the failure:
- IMAP: `+ eyJzdGF0dXMiOiI0MDEi…`, empty line, `<tag> NO [AUTHENTICATIONFAILED] Authentication failed.`
- POP3: `+ eyJzdGF0dXMiOiI0MDEi…`, empty line, `-ERR [AUTH] Authentication failed.`
- SMTP: `334 eyJzdGF0dXMiOiI0MDEi…`, empty line,
  `535 5.7.8 Error: authentication failed: (reason unavailable)`
A client that waits for the failure without answering the challenge hangs (Dovecot waited
more than 10 s, measured) until one side times out; answering IMAP's challenge with `*` cancels:
`<tag> BAD Authentication aborted by client.`. The reason (expired, bad signature, scope, user,
inactive) is only in Dovecot's log.
"""

import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from mailbridge.testkit.oauth_mail_config import (
    DEFAULT_PARTY,
    MECHANISMS,
    PROTOCOL_SCOPES,
    OAuth2Paths,
    OAuth2Validation,
    ValidationMode,
    key_file,
    passdb_args,
    protocol_passdbs,
)
from mailbridge.testkit.stack import MailStack


def _write_readable_by_dovecot(path: Path, text: str) -> None:
    """root:dovecot 0640, like the passwd-files: Dovecot's auth process runs as `dovecot`."""
    for folder in reversed([parent for parent in path.parents if not parent.exists()]):
        folder.mkdir(mode=0o750)
        shutil.chown(folder, "root", "dovecot")
    draft = path.with_name(f".{path.name}.new")
    draft.write_text(text)
    shutil.chown(draft, "root", "dovecot")
    draft.chmod(0o640)
    os.replace(draft, path)


class OAuthMailStack(MailStack):
    """`MailStack` whose logins also take XOAUTH2/OAUTHBEARER tokens `validation` accepts."""

    def __init__(self, validation: OAuth2Validation, mode: ValidationMode = ValidationMode.INTROSPECTION,
                 **stack_options: Any) -> None:  # fmt: skip
        super().__init__(**stack_options)
        self.validation, self.mode = validation, mode
        self.oauth2_paths = OAuth2Paths.under(self.dovecot.paths.folder / "oauth2")
        for protocol, scope in PROTOCOL_SCOPES.items():
            args = passdb_args(validation, mode, scope, self.oauth2_paths)
            _write_readable_by_dovecot(self.oauth2_paths.passdb_args(protocol), args)
        for party in (DEFAULT_PARTY, *validation.authorized_parties):
            self.trust_authorized_party(party)
        passdbs = protocol_passdbs(self.oauth2_paths)
        self.dovecot.options = replace(
            self.dovecot.options, extra_mechanisms=MECHANISMS, extra_config=passdbs
        )

    def __enter__(self) -> "OAuthMailStack":
        self.start()
        return self

    def trust_authorized_party(self, client_id: str) -> None:
        """Local mode: accept tokens whose `azp` is `client_id` (works while Dovecot runs)."""
        _write_readable_by_dovecot(
            self.oauth2_paths.keys / key_file(self.validation, client_id), self.validation.public_key_pem
        )
