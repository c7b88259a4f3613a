"""Certificates that fail verification each in one way, for the credentials test's diagnoses (T1):
`expired` (valid 2020–2021, for localhost and 127.0.0.1), `other_host` (valid, for
mail.other.test only) — both from the "faults CA" that `client_context()` trusts — and
`untrusted` (for localhost and 127.0.0.1, from a CA nobody trusts). Made with the openssl command
line (EC P-256; the expired one through `openssl ca` with explicit dates), cached between runs
like `tls.py`'s files and under the same kind of lock; the cache is kept for 800 days.
"""

import fcntl
import shutil
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

DEFAULT_CACHE = Path("/var/tmp/mailbridge-testkit/tls-faults-v1")  # noqa: S108 - kept between runs on purpose
_RENEW_AFTER_S = 800 * 24 * 3600
_NAMES = ("expired", "other_host", "untrusted")
_CONFIG = """\
[req]
distinguished_name = dn
[dn]
[ca]
default_ca = faults
[faults]
database = {folder}/index.txt
new_certs_dir = {folder}
serial = {folder}/serial
default_md = sha256
policy = anything
unique_subject = no
[anything]
commonName = supplied
[authority]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[local]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
[other]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:mail.other.test
"""


@dataclass(frozen=True)
class TlsFaults:
    folder: Path

    @property
    def trusted_ca(self) -> Path:
        return self.folder / "faults-ca.pem"

    def client_context(self, *also_trusted: Path) -> ssl.SSLContext:
        """Trusts the faults CA (and `also_trusted`), never the untrusted one; checks stay on."""
        context = ssl.create_default_context(cafile=str(self.trusted_ca))
        for cafile in also_trusted:
            context.load_verify_locations(cafile=str(cafile))
        return context

    def server_context(self, fault: str) -> ssl.SSLContext:
        """A server's context presenting the certificate `fault` ("expired", "other_host", "untrusted")."""
        assert fault in _NAMES, fault
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.folder / f"{fault}.pem", self.folder / f"{fault}.key")
        return context


def _openssl(*args: str | Path) -> None:
    openssl = shutil.which("openssl") or "openssl"
    subprocess.run([openssl, *map(str, args)], check=True, capture_output=True)  # noqa: S603


def _generate(folder: Path) -> None:
    config = folder / "openssl.cnf"
    config.write_text(_CONFIG.format(folder=folder))
    (folder / "index.txt").write_text("")
    (folder / "serial").write_text("1000\n")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-noenc", "-config", config)
    for ca, name in (("faults-ca", "Mailbridge faults CA"), ("rogue-ca", "Nobody trusts this CA")):
        _openssl("req", "-x509", *ec, "-keyout", folder / f"{ca}.key", "-out", folder / f"{ca}.pem",
                 "-days", "3650", "-subj", f"/CN={name}", "-extensions", "authority")  # fmt: skip
    for name, ca, extensions in (("other_host", "faults-ca", "other"), ("untrusted", "rogue-ca", "local")):
        _openssl("req", "-x509", *ec, "-keyout", folder / f"{name}.key", "-out", folder / f"{name}.pem",
                 "-CA", folder / f"{ca}.pem", "-CAkey", folder / f"{ca}.key", "-days", "825",
                 "-subj", "/CN=localhost", "-extensions", extensions)  # fmt: skip
    _openssl("req", "-new", *ec, "-keyout", folder / "expired.key", "-out", folder / "expired.csr",
             "-subj", "/CN=localhost")  # fmt: skip
    _openssl("ca", "-batch", "-config", config, "-cert", folder / "faults-ca.pem", "-keyfile",
             folder / "faults-ca.key", "-in", folder / "expired.csr", "-out", folder / "expired.pem",
             "-startdate", "20200101000000Z", "-enddate", "20210101000000Z", "-extensions", "local",
             "-notext")  # fmt: skip
    for key in ("faults-ca.key", "rogue-ca.key"):
        (folder / key).unlink()


def _still_valid(folder: Path) -> bool:
    try:
        age = time.time() - (folder / "expired.pem").stat().st_mtime
    except FileNotFoundError:
        return False
    return age < _RENEW_AFTER_S and all((folder / f"{name}.key").exists() for name in _NAMES)


def ensure_tls_faults(cache: Path = DEFAULT_CACHE) -> TlsFaults:
    """The cached fault certificates under `cache`, made first when missing or old."""
    if _still_valid(cache):
        return TlsFaults(cache)
    cache.parent.mkdir(parents=True, exist_ok=True)
    with (cache.parent / f".{cache.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _still_valid(cache):
            return TlsFaults(cache)
        fresh = Path(tempfile.mkdtemp(prefix=f".{cache.name}-", dir=cache.parent))
        _generate(fresh)
        fresh.chmod(0o755)
        shutil.rmtree(cache, ignore_errors=True)
        fresh.rename(cache)
    return TlsFaults(cache)
