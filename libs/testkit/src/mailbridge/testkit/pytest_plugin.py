"""pytest fixtures for the real mail servers: `mail_stack` (one per session) and `mail_user`.

Without Dovecot or Postfix (or without root, which both need) the tests that use them are
skipped with the install command; under CI (`CI=true`) that is a failure, never a silent skip.
"""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from mailbridge.testkit.postfix import MASTER
from mailbridge.testkit.stack import DEFAULT_PARENT, MailStack
from mailbridge.testkit.users import MailUser

# The interoperability matrix's fixtures (`interop_server` and one per server) come with this plugin.
pytest_plugins = [
    "mailbridge.testkit.interop_fixtures",
    "mailbridge.testkit.oauth_fixtures",
    "mailbridge.testkit.oauth_mail_fixtures",
    "mailbridge.testkit.xdist_groups",  # make test's --dist loadgroup under pytest 9
]

INSTALL = (
    "DEBIAN_FRONTEND=noninteractive apt-get install -y dovecot-imapd dovecot-pop3d dovecot-lmtpd postfix"
)


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing_mail_servers() -> str | None:
    """Why the stack cannot run here, or None when it can."""
    binaries = {"dovecot": Path("/usr/sbin/dovecot"), "doveadm": Path("/usr/bin/doveadm")}
    absent = [name for name, path in binaries.items() if shutil.which(name) is None and not path.exists()]
    absent += [] if MASTER.exists() else [str(MASTER)]
    if absent:
        return f"mail servers not installed ({', '.join(absent)} missing): {INSTALL}"
    if os.geteuid() != 0:
        return "the mail stack needs root (Dovecot and Postfix masters bind, then drop privileges)"
    return None


def require_mail_servers() -> None:
    """Skip the calling test when the stack cannot run here; under CI, fail it instead."""
    reason = missing_mail_servers()
    if reason is not None:
        if _in_ci():
            pytest.fail(f"required test service unavailable in CI: {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def mail_stack() -> Iterator[MailStack]:
    """Dovecot and Postfix on loopback for the whole session; see `MailStack`."""
    require_mail_servers()
    parent = os.environ.get("MAILBRIDGE_TEST_STACK_PARENT")
    with MailStack(parent=Path(parent) if parent else DEFAULT_PARENT) as stack:
        yield stack


@pytest.fixture
def mail_user(mail_stack: MailStack) -> MailUser:
    """A fresh user of the session's stack: random address on its domain, random password."""
    return mail_stack.add_user()
