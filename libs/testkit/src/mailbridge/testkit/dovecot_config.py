"""Dovecot 2.3's self-contained configuration for the test stack (nothing from /etc/dovecot).

Choices that keep tests fast and honest: no anvil auth-penalty socket and
`auth_failure_delay = 0` (else every login from 127.0.0.1 after a failure waits up to 15 s);
a last, `deny` passdb that fails with `nodelay` every login the passwd-file refused — without
it a wrong password is still answered only at the auth process's next 500 ms tick (a failed
passdb's own extra fields, `nodelay` included, are rolled back; a deny passdb's are not). An
empty `stats_writer_socket_path` (5 s stalls when stopped during start-up); 100 connections
per user and IP. Any recipient that is not a user is delivered by LMTP to the sink mailbox (a
static userdb after the passwd-file one): nothing bounces, nothing leaves the host.

Dovecot counts a connection whose local and remote IP are equal (loopback) as secured: a
plaintext LOGIN on the plain ports succeeds even with `disable_plaintext_auth = yes`. The log
marks each login `TLS` or `secured`: read it to prove that a client used TLS.
"""

from dataclasses import dataclass
from pathlib import Path

from mailbridge.testkit.tls import TlsFiles

SPECIAL_USE = {"Drafts": "\\Drafts", "Sent": "\\Sent", "Junk": "\\Junk", "Trash": "\\Trash",
               "Archive": "\\Archive"}  # fmt: skip
SEPARATOR = "/"


@dataclass(frozen=True)
class DovecotPorts:
    imap: int
    imaps: int
    pop3: int
    pop3s: int
    lmtp: int


@dataclass(frozen=True)
class DovecotPaths:
    """Where one instance keeps its files; `folder` must be short (sockets ≤ 107 bytes)."""

    folder: Path
    config: Path
    users: Path  # one passwd-file per user (see `users`)
    run: Path  # base_dir: sockets, master.pid
    state: Path
    log: Path
    output: Path  # the master's own stdout and stderr (errors before its log is open)
    auth_socket: Path  # SASL for Postfix (`smtpd_sasl_type = dovecot`)
    lmtp_socket: Path

    @classmethod
    def under(cls, folder: Path) -> "DovecotPaths":
        run = folder / "run"
        return cls(
            folder, folder / "dovecot.conf", folder / "users", run, folder / "state",
            folder / "dovecot.log", folder / "dovecot.out", run / "auth-postfix", run / "lmtp",
        )  # fmt: skip


@dataclass(frozen=True)
class DovecotOptions:
    host: str = "127.0.0.1"
    mail_uid: int = 5000
    mail_gid: int = 5000
    fsync: bool = False
    """False: `mail_fsync = never` (tests); True: Dovecot's default `optimized` (benchmarks)."""
    extra_mechanisms: tuple[str, ...] = ()
    """SASL mechanisms besides PLAIN and LOGIN (e.g. xoauth2): the passwd-file passdb then
    serves PLAIN and LOGIN only, and `extra_config` must bring the passdbs for these."""
    extra_config: str = ""
    """Appended to dovecot.conf as it is, e.g. `protocol imap { passdb { … } }` blocks."""


def _mailboxes() -> str:
    return "".join(
        f"  mailbox {name} {{\n    special_use = {use}\n    auto = subscribe\n  }}\n"
        for name, use in SPECIAL_USE.items()
    )


def _password_mechanisms(options: DovecotOptions) -> str:
    return "  mechanisms = plain login\n" if options.extra_mechanisms else ""


def render(paths: DovecotPaths, ports: DovecotPorts, tls: TlsFiles, options: DovecotOptions,
           instance: str, sink_home: Path) -> str:  # fmt: skip
    uid, gid, host = options.mail_uid, options.mail_gid, options.host
    return f"""\
base_dir = {paths.run}
state_dir = {paths.state}
instance_name = {instance}
protocols = imap pop3 lmtp
listen = {host}
log_path = {paths.log}
auth_verbose = yes
ssl = yes
ssl_cert = <{tls.server_cert}
ssl_key = <{tls.server_key}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = {" ".join(("plain", "login", *options.extra_mechanisms))}
auth_failure_delay = 0
stats_writer_socket_path =
mail_location = maildir:~/Maildir
mail_fsync = {"optimized" if options.fsync else "never"}
first_valid_uid = {uid}
last_valid_uid = {uid}
first_valid_gid = {gid}
last_valid_gid = {gid}
mail_max_userip_connections = 100
postmaster_address = postmaster@mailbridge.test
passdb {{
  driver = passwd-file
  args = {paths.users}/%Lu
{_password_mechanisms(options)}}}
passdb {{
  driver = static
  deny = yes
  args = nodelay=yes
}}
userdb {{
  driver = passwd-file
  args = {paths.users}/%Lu
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={sink_home} allow_all_users=yes
}}
service imap-login {{
  inet_listener imap {{
    port = {ports.imap}
  }}
  inet_listener imaps {{
    port = {ports.imaps}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {ports.pop3}
  }}
  inet_listener pop3s {{
    port = {ports.pop3s}
    ssl = yes
  }}
}}
service lmtp {{
  unix_listener lmtp {{
    mode = 0666
  }}
  inet_listener lmtp {{
    port = {ports.lmtp}
  }}
}}
service auth {{
  unix_listener auth-postfix {{
    mode = 0660
    user = postfix
    group = postfix
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
namespace inbox {{
  inbox = yes
  separator = {SEPARATOR}
{_mailboxes()}}}
{options.extra_config}"""
