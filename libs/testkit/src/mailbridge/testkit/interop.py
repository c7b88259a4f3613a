"""The interoperability matrix (#11): one shape for every real mail server the tests run against.

Dovecot (the main stack's), Courier and Cyrus each run as a private instance on loopback; a test
takes any of them as an `InteropServer` and reaches mailboxes only through the protocols
(`imap_seed.ImapSeeder`), so the same test runs against all three. What differs between the
servers — folder separator, personal namespace, capabilities — is data on the instance, never a
branch in a test.
"""

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class InteropPorts:
    """Where one server listens; 0 where it offers no such service."""

    imap: int  # IMAP, STARTTLS offered
    imaps: int  # IMAP over implicit TLS
    pop3: int  # POP3, STLS offered
    pop3s: int  # POP3 over implicit TLS


@dataclass(frozen=True)
class InteropLogin:
    """A mailbox on one server: the login name (an address) and its password."""

    address: str
    password: str


class InteropServer(Protocol):
    """A running mail server of the matrix."""

    name: str  # "dovecot" | "courier" | "cyrus"
    version: str  # the Debian package version it runs
    host: str
    ports: InteropPorts
    separator: str  # the hierarchy separator of the personal namespace ("/" or ".")
    personal_prefix: str  # "" (Dovecot) or "INBOX." (Courier, Cyrus with altnamespace off)
    ca_file: Path  # clients verify the server's certificate against this CA

    def add_user(self) -> InteropLogin:
        """A new mailbox with a random address and password, with an empty INBOX."""
        ...

    def folder(self, name: str) -> str:
        """The full IMAP name of a personal folder: `folder("Archiv")` is `INBOX.Archiv` on
        Courier and Cyrus, `Archiv` on Dovecot; nested names use "/" and are translated."""
        ...


def client_context(server: InteropServer) -> ssl.SSLContext:
    """A TLS client context that trusts the matrix's CA, verification on."""
    return ssl.create_default_context(cafile=str(server.ca_file))


def full_folder_name(prefix: str, separator: str, name: str) -> str:
    """`prefix` + `name` with "/" replaced by the server's separator; INBOX stays INBOX."""
    if name.upper() == "INBOX":
        return "INBOX"
    return prefix + name.replace("/", separator)
