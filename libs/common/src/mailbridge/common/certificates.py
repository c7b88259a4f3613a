"""A TLS certificate that fails verification: one verdict and one reason, wherever it is met (#17).

The fetcher (IMAP, POP3), the sender (SMTP, the Sent folder's IMAP) and the credentials test (T1)
all read a failed verification here. The verdict is the same everywhere: permanent. A certificate
that is expired, issued for another name or signed by an unknown authority does not get better by
itself within a retry's backoff, and trying again only repeats the refusal; it changes when the
configuration changes (the server's host, the trusted CA in MAILBRIDGE_EXTRA_CA_FILE) or the
server's administrator installs another certificate. So the fetcher records the failure with the
presented certificate's fingerprint and waits for the configuration to change (its
`config_version`) or the server to present another certificate (each automatic slot reads it
without logging in: fetcher `certificate_hold`); a person's manual fetch or a credentials test
still tries at once. The sender fails the mail with the reason rather than retrying it. The
reason is the credentials test's diagnosis, told apart by OpenSSL's verify code (`X509_V_ERR_*`),
and names what a person changes.

The services wrap library errors (`raise … from error`), so the verification error is looked for
along the chain of causes (`verification_error`, `root_causes`).
"""

import ssl
from collections.abc import Iterator
from dataclasses import dataclass

from mailbridge.common.credential_checks import Code

# OpenSSL verify codes (x509_vfy.h)
CERT_NOT_YET_VALID, CERT_HAS_EXPIRED = 9, 10
HOSTNAME_MISMATCH, IP_ADDRESS_MISMATCH = 62, 64
PERMANENT = True  # the verdict on every certificate failure, in every service (see above)


@dataclass(frozen=True)
class CertificateProblem:
    code: Code  # certificate_expired, hostname_mismatch or certificate_untrusted
    reason: str  # what failed and what to change, the same text in every service
    permanent: bool = PERMANENT


def root_causes(error: BaseException) -> Iterator[BaseException]:
    """`error`, then its causes (or the exceptions it was raised while handling), at most 10 deep."""
    seen: BaseException | None = error
    for _ in range(10):
        if seen is None:
            return
        yield seen
        seen = seen.__cause__ or seen.__context__


def verification_error(error: BaseException) -> ssl.SSLCertVerificationError | None:
    """The failed certificate verification anywhere in `error`'s chain, else None."""
    return next((c for c in root_causes(error) if isinstance(c, ssl.SSLCertVerificationError)), None)


def certificate_problem(error: ssl.SSLCertVerificationError, where: str) -> CertificateProblem:
    """The verdict and reason for `where` (`host:port`); OpenSSL's verify code tells expired, for
    another name, and not trusted apart."""
    said = getattr(error, "verify_message", None) or str(error)  # set by the ssl module, not by hand
    code = getattr(error, "verify_code", None)
    if code in (CERT_HAS_EXPIRED, CERT_NOT_YET_VALID):
        return CertificateProblem(
            Code.CERTIFICATE_EXPIRED,
            f"the TLS certificate of {where} is outside its validity period ({said}): the server's "
            "administrator must renew it",
        )
    if code in (HOSTNAME_MISMATCH, IP_ADDRESS_MISMATCH):
        return CertificateProblem(
            Code.HOSTNAME_MISMATCH,
            f"the TLS certificate of {where} is issued for another name ({said}): use the host name the "
            "certificate names as the server's host",
        )
    return CertificateProblem(
        Code.CERTIFICATE_UNTRUSTED,
        f"the TLS certificate of {where} is not trusted ({said}): the server needs a certificate from "
        "a public authority, or its CA must be added to MAILBRIDGE_EXTRA_CA_FILE",
    )


def certificate_reason(error: BaseException, where: str) -> str | None:
    """The one reason for a certificate failure in `error`'s chain, else None."""
    found = verification_error(error)
    return certificate_problem(found, where).reason if found is not None else None
