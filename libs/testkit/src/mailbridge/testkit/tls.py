"""A private CA and a server certificate for localhost, 127.0.0.1 and ::1, cached between runs.

Both keys are EC P-256, made with the openssl command line (~40 ms). Clients trust the CA file
explicitly (`TlsFiles.client_context()`), so certificate verification stays on in every test.
The files are reused until the server certificate is 800 days old (it is valid for 825), judged
by its file's age so a cached start costs no process; a lock keeps parallel test processes from
writing them at the same time.
"""

import fcntl
import shutil
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

DEFAULT_CACHE = Path("/var/tmp/mailbridge-testkit/tls-v1")  # noqa: S108 - kept between runs on purpose
_RENEW_AFTER_S = 800 * 24 * 3600
_OPENSSL_CONFIG = """\
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
"""


@dataclass(frozen=True)
class TlsFiles:
    """PEM files: the CA certificate clients trust, the server's certificate and its key."""

    ca_cert: Path
    server_cert: Path
    server_key: Path

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts only this CA, with hostname and chain checks on."""
        return ssl.create_default_context(cafile=str(self.ca_cert))


def _openssl(*args: str | Path) -> None:
    openssl = shutil.which("openssl") or "openssl"
    subprocess.run([openssl, *map(str, args)], check=True, capture_output=True)  # noqa: S603


def _still_valid(files: TlsFiles) -> bool:
    try:
        age = time.time() - files.server_cert.stat().st_mtime
    except FileNotFoundError:
        return False
    return age < _RENEW_AFTER_S and files.ca_cert.exists() and files.server_key.exists()


def _generate(folder: Path) -> None:
    """Write ca.pem, server.pem and server.key into the empty `folder`."""
    config = folder / "openssl.cnf"
    config.write_text(_OPENSSL_CONFIG)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-noenc", "-config", config)
    _openssl(
        "req", "-x509", *ec, "-keyout", folder / "ca.key", "-out", folder / "ca.pem",
        "-days", "3650", "-subj", "/CN=Mailbridge test CA", "-extensions", "ca",
    )  # fmt: skip
    _openssl(
        "req", "-x509", *ec, "-keyout", folder / "server.key", "-out", folder / "server.pem",
        "-CA", folder / "ca.pem", "-CAkey", folder / "ca.key",
        "-days", "825", "-subj", "/CN=localhost", "-extensions", "server",
    )  # fmt: skip
    (folder / "ca.key").unlink()  # nothing is ever signed with it again


def ensure_tls_files(cache: Path = DEFAULT_CACHE) -> TlsFiles:
    """The cached CA and server certificate under `cache`, made first when missing or expiring."""
    files = TlsFiles(cache / "ca.pem", cache / "server.pem", cache / "server.key")
    if _still_valid(files):
        return files
    cache.parent.mkdir(parents=True, exist_ok=True)
    with (cache.parent / f".{cache.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _still_valid(files):
            return files
        fresh = Path(tempfile.mkdtemp(prefix=f".{cache.name}-", dir=cache.parent))
        _generate(fresh)
        fresh.chmod(0o755)
        old = cache.parent / f".{cache.name}-old"
        shutil.rmtree(old, ignore_errors=True)
        if cache.exists():
            cache.rename(old)
        fresh.rename(cache)
        shutil.rmtree(old, ignore_errors=True)
    return files
