"""The session's Dovecot (`MailStack`) as a server of the interoperability matrix (#11).

No second Dovecot: the adapter only describes the stack's one (ports, separator "/", no personal
prefix, the stack's CA) and makes its users. Its version is the installed `dovecot-core`
package's, as Courier's and Cyrus's are their packages'.
"""

import subprocess
from pathlib import Path

from mailbridge.testkit.dovecot_config import SEPARATOR
from mailbridge.testkit.interop import InteropLogin, InteropPorts, full_folder_name
from mailbridge.testkit.stack import MailStack


def package_version(package: str) -> str:
    """The installed Debian package's version ("" when dpkg does not know it)."""
    found = subprocess.run(  # noqa: S603 - a fixed command
        ["dpkg-query", "--show", "--showformat=${Version}", package],  # noqa: S607 - dpkg is on PATH
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return found.stdout.strip() if found.returncode == 0 else ""


class DovecotInterop:
    """`InteropServer` over a running `MailStack`'s Dovecot."""

    name = "dovecot"
    separator = SEPARATOR
    personal_prefix = ""

    def __init__(self, stack: MailStack) -> None:
        self._stack = stack
        self.version = package_version("dovecot-core")
        self.host = stack.host
        ports = stack.ports
        self.ports = InteropPorts(ports.imap, ports.imaps, ports.pop3, ports.pop3s)
        self.ca_file: Path = stack.ca_file

    def add_user(self) -> InteropLogin:
        user = self._stack.add_user()
        return InteropLogin(user.address, user.password)

    def folder(self, name: str) -> str:
        return full_folder_name(self.personal_prefix, self.separator, name)
