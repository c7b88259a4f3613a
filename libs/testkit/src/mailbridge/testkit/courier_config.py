"""Courier's configuration for a private instance: Debian's files, plus what loopback needs.

Courier is configured through environment variables that Debian's start scripts source from
`/etc/courier/{imapd,imapd-ssl,pop3d,pop3d-ssl}`. Each listener here runs a script that sources
the same files from the unpacked package (so capabilities, UTF8 and the rest are what a business
that installs `courier-imap`/`courier-pop` gets), then `overrides` with only what a private
instance needs: the address, connection limits, the TLS file, no global TLS cache. The rest
lives in a private copy of `/etc/courier` (authdaemonrc with `authuserdb` only, the userdb).
"""

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path

from mailbridge.testkit.interop import InteropPorts

INTEROP_ROOT = Path("/opt/mailbridge-interop")
IMAP_PACKAGE = INTEROP_ROOT / "courier-imap"
POP_PACKAGE = INTEROP_ROOT / "courier-pop"
IMAPLOGIN = IMAP_PACKAGE / "usr/lib/courier/courier/imaplogin"
IMAPD = IMAP_PACKAGE / "usr/bin/imapd"
POP3LOGIN = POP_PACKAGE / "usr/lib/courier/courier/courierpop3login"
POP3D = POP_PACKAGE / "usr/lib/courier/courier/courierpop3d"
COURIERTCPD = Path("/usr/sbin/couriertcpd")
COURIERTLS = Path("/usr/bin/couriertls")
AUTHDAEMOND = Path("/usr/lib/courier/courier-authlib/authdaemond")
MAKEUSERDB = Path("/usr/sbin/makeuserdb")
GLOBAL_ETC = Path("/etc/courier")
GLOBAL_RUN = Path("/run/courier")  # authdaemond's socket: /run/courier/authdaemon/socket, compiled in
MAIL_USER = "vmail"  # the mail uid's name inside the namespace (see `accounts`)
MAX_CONNECTIONS = 200  # Debian's MAXPERIP is 20 (IMAP) and 4 (POP3): too few for parallel tests


@dataclass(frozen=True)
class CourierPaths:
    """One instance's files; `etc` and `run` are mounted over /etc/courier and /run/courier."""

    folder: Path
    etc: Path
    run: Path
    mail: Path  # <mail>/<address>/Maildir
    overrides: Path
    start: Path  # the leader's script, run inside the private mount namespace
    pem: Path  # certificate and key in one file, as couriertls wants them
    log: Path  # the sessions' stderr (logins, logouts, errors)
    output: Path  # the leader's, authdaemond's and couriertcpd's own output
    passwd: Path  # /etc/passwd and /etc/group inside the namespace, with the mail uid named
    group: Path

    @classmethod
    def under(cls, folder: Path) -> "CourierPaths":
        return cls(
            folder, folder / "etc", folder / "run", folder / "mail", folder / "overrides",
            folder / "start.sh", folder / "etc" / "mailbridge.pem", folder / "courier.log",
            folder / "courier.out", folder / "passwd", folder / "group",
        )  # fmt: skip

    @property
    def userdb(self) -> Path:
        return self.etc / "userdb"

    @property
    def auth_socket(self) -> Path:
        return self.run / "authdaemon" / "socket"


@dataclass(frozen=True)
class _Listener:
    name: str
    config: tuple[Path, Path]  # Debian's file and its -ssl companion, sourced in this order
    settings: str  # what Debian's start script sets after sourcing them
    program: tuple[str, ...]  # run per connection (after couriertls, for implicit TLS)


def _listeners(ports: InteropPorts) -> list[tuple[_Listener, int]]:
    imap_config = (IMAP_PACKAGE / "etc/courier/imapd", IMAP_PACKAGE / "etc/courier/imapd-ssl")
    pop_config = (POP_PACKAGE / "etc/courier/pop3d", POP_PACKAGE / "etc/courier/pop3d-ssl")
    imap_limits = "umask $IMAP_UMASK\nulimit -v $IMAP_ULIMITD\n"
    tls = (str(COURIERTLS), "-server", "-tcpd", "-user=courier")
    imap = (str(IMAPLOGIN), str(IMAPD))
    pop = (str(POP3LOGIN), str(POP3D))
    return [
        (_Listener("imap", imap_config, "IMAP_STARTTLS=$IMAPDSTARTTLS\n" + imap_limits, imap), ports.imap),
        (_Listener("imaps", imap_config, "IMAP_TLS=1\n" + imap_limits, tls + imap), ports.imaps),
        (_Listener("pop3", pop_config, "", pop), ports.pop3),
        (_Listener("pop3s", pop_config, "POP3_TLS=1\nPOP3_STARTTLS=NO\nPOP3_TLS_REQUIRED=0\n", tls + pop),
         ports.pop3s),
    ]  # fmt: skip


def render_overrides(paths: CourierPaths, host: str) -> str:
    return f"""\
ADDRESS={host}
SSLADDRESS={host}
MAXDAEMONS={MAX_CONNECTIONS}
MAXPERIP={MAX_CONNECTIONS}
TLS_CERTFILE={paths.pem}
TLS_CACHEFILE=
GAM_CLIENT_ID={paths.folder.name}
"""


def render_scripts(paths: CourierPaths, ports: InteropPorts, host: str) -> dict[Path, str]:
    """The leader's script (private /etc/courier and /run/courier, authdaemond, the listeners)
    and one script per listener (Debian's settings, ours, then `couriertcpd`)."""
    scripts: dict[Path, str] = {}
    lines = [
        "set -e",
        f"mount --bind {paths.etc} {GLOBAL_ETC}",
        f"mount --bind {paths.run} {GLOBAL_RUN}",
        f"mount --bind {paths.passwd} /etc/passwd",
        f"mount --bind {paths.group} /etc/group",
        f"{AUTHDAEMOND} &",
    ]
    for listener, port in _listeners(ports):
        script = paths.folder / f"{listener.name}.sh"
        scripts[script] = (
            "set -a\n"
            + "".join(f". {config}\n" for config in listener.config)
            + f". {paths.overrides}\n"
            + listener.settings
            # -stderr also puts the folder into each listener's command line, for `sweep`.
            + f"exec {COURIERTCPD} -address=$ADDRESS -maxprocs=$MAXDAEMONS -maxperip=$MAXPERIP"
            + f" -stderr={paths.log} $TCPDOPTS {host}.{port} {' '.join(listener.program)} $MAILDIRPATH\n"
        )
        lines.append(f"env -i /bin/sh {script} &")
    lines.append("wait")
    scripts[paths.start] = "\n".join(lines) + "\n"
    return scripts


def accounts(passwd: str, group: str, uid: int, gid: int) -> tuple[str, str]:
    """/etc/passwd and /etc/group with a name for the mail uid and gid, where they have none.

    imapd watches Maildirs through gamin, whose socket name holds the user's name: for a uid
    without one every IMAP command waited 1.2 s for gamin to give up."""
    if not any(line.split(":")[2:3] == [str(uid)] for line in passwd.splitlines()):
        passwd += f"{MAIL_USER}:x:{uid}:{gid}:Mailbridge test mail:/nonexistent:/usr/sbin/nologin\n"
    if not any(line.split(":")[2:3] == [str(gid)] for line in group.splitlines()):
        group += f"{MAIL_USER}:x:{gid}:\n"
    return passwd, group


def authdaemonrc(original: str) -> str:
    """Debian's authdaemonrc with the userdb as the only authentication module."""
    lines = original.splitlines()
    chosen = [i for i, line in enumerate(lines) if line.startswith("authmodulelist=")]
    if len(chosen) != 1:
        raise ValueError("authdaemonrc: expected exactly one authmodulelist= line")
    lines[chosen[0]] = 'authmodulelist="authuserdb"'
    return "\n".join(lines) + "\n"


def userdb_line(address: str, password: str, home: Path, uid: int, gid: int) -> str:
    """One account of `makeuserdb`'s text format. `{SHA512}` is one of the schemes Courier's
    authlib checks itself (no crypt(3) needed here); the hash goes to userdbshadow.dat."""
    secret = base64.b64encode(hashlib.sha512(password.encode()).digest()).decode()
    fields = f"uid={uid}|gid={gid}|home={home}|mail={home / 'Maildir'}|systempw={{SHA512}}{secret}"
    return f"{address}\t{fields}\n"
