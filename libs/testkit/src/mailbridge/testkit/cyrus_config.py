"""Cyrus IMAP 3.6's private configuration for one test instance: `imapd.conf` and `cyrus.conf`.

Nothing is read from /etc/imapd.conf or /etc/cyrus.conf and nothing under /var/lib/cyrus, /run
or /var/spool/cyrus is used: the configdirectory (mailboxes.db, locks, proc, sockets), the
partition and the sasldb all live in the instance's folder, owned by `cyrus`.

Chosen like a business install (Debian's stock imapd.conf) where clients can tell the difference:
`altnamespace: no` and `unixhierarchysep: no` (folders are `INBOX.Archiv`, separator "."), 8-bit
header bytes munged to "X" (`munge8bit`, Cyrus's default, which Debian keeps), no plaintext
login before TLS (Cyrus's default; Debian's stock file allows it), CONDSTORE and QRESYNC as
Cyrus offers them. Changed for tests: `failedloginpause: 0` (3 s after each failed login),
no `popminpoll` (Debian sets 1: a second POP3 login within a minute is refused with
`[LOGIN-DELAY]`; `CyrusOptions.pop_min_poll_minutes` brings it back), logins as full addresses
(`virtdomains: userid`, no `defaultdomain`: a login in the default domain would be stripped of
its domain and then not found in the sasldb under its realm).
"""

from dataclasses import dataclass
from pathlib import Path

from mailbridge.testkit.interop import InteropPorts

INTEROP_ROOT = Path("/opt/mailbridge-interop")
MASTER = Path("/usr/lib/cyrus/bin/master")
IMAPD = INTEROP_ROOT / "cyrus-imapd/usr/lib/cyrus/bin/imapd"
POP3D = INTEROP_ROOT / "cyrus-pop3d/usr/lib/cyrus/bin/pop3d"
VERSION_FILE = INTEROP_ROOT / "cyrus-imapd/.unpacked"
SERVERNAME = "localhost"  # also the SASL realm of logins without a domain (the admin's)
SEPARATOR = "."
PERSONAL_PREFIX = "INBOX."


@dataclass(frozen=True)
class CyrusOptions:
    host: str = "127.0.0.1"
    munge8bit: bool = True
    """True (Cyrus's and Debian's default): 8-bit bytes in headers become "X" on APPEND (and LMTP);
    False: kept as sent. Bodies are never touched."""
    reject8bit: bool = False
    """True: APPEND of a message with 8-bit header bytes is refused (overrides `munge8bit`)."""
    pop_min_poll_minutes: int = 0
    """`popminpoll`: minutes a user must wait between POP3 logins (Debian's stock file says 1)."""
    max_children: int = 100
    """Per service: concurrent connections of each of IMAP, IMAPS, POP3, POP3S."""


@dataclass(frozen=True)
class CyrusPaths:
    """Where one instance keeps its files; only `config_dir`, `partition` and `sasl_dir` are
    owned by `cyrus` (the rest stays root's, readable)."""

    folder: Path
    imapd_conf: Path
    cyrus_conf: Path
    config_dir: Path  # configdirectory: mailboxes.db, lock/, proc/, socket/ (made here: each
    # imapd binds socket/idle.<pid> there, and says only "bind: No such file" without it)
    partition: Path  # partition-default: the mail spool
    sasl_dir: Path  # the sasldb (Berkeley DB) and its lock files
    tls_dir: Path  # copies of the server certificate and key, readable by cyrus
    pid_file: Path  # else the master writes /var/run/master.pid
    output: Path  # the master's stdout and stderr: Cyrus itself logs only to syslog

    @classmethod
    def under(cls, folder: Path) -> "CyrusPaths":
        return cls(
            folder, folder / "imapd.conf", folder / "cyrus.conf", folder / "config",
            folder / "spool", folder / "sasl", folder / "tls", folder / "master.pid",
            folder / "master.out",
        )  # fmt: skip

    @property
    def owned_dirs(self) -> tuple[Path, ...]:
        return (self.config_dir, self.partition, self.sasl_dir, self.tls_dir)

    @property
    def sasldb(self) -> Path:
        return self.sasl_dir / "sasldb2"

    @property
    def server_cert(self) -> Path:
        return self.tls_dir / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.tls_dir / "server.key"


def render_imapd_conf(paths: CyrusPaths, options: CyrusOptions, admin: str) -> str:
    def switch(value: bool) -> str:
        return "yes" if value else "no"

    return f"""\
configdirectory: {paths.config_dir}
defaultpartition: default
partition-default: {paths.partition}
servername: {SERVERNAME}
admins: {admin}
virtdomains: userid
altnamespace: no
unixhierarchysep: no
munge8bit: {switch(options.munge8bit)}
reject8bit: {switch(options.reject8bit)}
popminpoll: {options.pop_min_poll_minutes}
failedloginpause: 0
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: {paths.sasldb}
sasl_mech_list: PLAIN LOGIN
tls_server_cert: {paths.server_cert}
tls_server_key: {paths.server_key}
tls_versions: tls1_2 tls1_3
syslog_prefix: mailbridge-{paths.folder.name}
"""


def render_cyrus_conf(paths: CyrusPaths, ports: InteropPorts, options: CyrusOptions) -> str:
    """Four services and nothing else: no START recovery, no EVENTS, no LMTP, no idled."""
    config, host, most = paths.imapd_conf, options.host, options.max_children
    services = [
        ("imap", f"{IMAPD} -C {config}", ports.imap),
        ("imaps", f"{IMAPD} -s -C {config}", ports.imaps),
        ("pop3", f"{POP3D} -C {config}", ports.pop3),
        ("pop3s", f"{POP3D} -s -C {config}", ports.pop3s),
    ]
    listen = f"[{host}]" if ":" in host else host
    lines = "".join(
        f'  {name} cmd="{command}" listen="{listen}:{port}" prefork=0 maxchild={most}\n'
        for name, command, port in services
    )
    return f"SERVICES {{\n{lines}}}\n"
