"""A fetch held back by a certificate failure, and when the server's certificate lets it go (#17).

A certificate that fails verification is permanent until the configuration or the certificate
changes (`common.certificates`). The configuration is the account's `config_version`; the
certificate is told by the SHA-256 fingerprint of the leaf the server presented, recorded with
the failure (`fetch_states.certificate_sha256`). An automatic fetch (schedule, IMAP IDLE) of an
account held back that way first reads the certificate the server presents now, without trusting
it and without logging in, and runs when it is another one: the verification decides again. The
rule is here, as plain functions; reading the certificate is the `CertificateReader` port's.
"""

import hashlib

from mailbridge.fetcher.model import AccountConfig, LastOutcome


def fingerprint(der: bytes) -> str:
    """The SHA-256 fingerprint of a DER certificate, as 64 lowercase hex digits."""
    return hashlib.sha256(der).hexdigest()


def waits_for_change(account: AccountConfig, previous: LastOutcome | None) -> bool:
    """Whether the last fetch failed for good and the configuration is the same since."""
    return previous is not None and previous.permanent and previous.config_version == account.config_version


def held_certificate(account: AccountConfig, previous: LastOutcome | None) -> str | None:
    """The fingerprint a certificate failure recorded when that failure is all that holds the
    account back (it may receive, the configuration is unchanged), else None (no certificate to
    compare: the configuration alone lets the fetch go, as for any permanent failure)."""
    if not account.can_receive or not waits_for_change(account, previous):
        return None
    return None if previous is None else previous.certificate


def certificate_changed(recorded: str, presented: str | None) -> bool:
    """Whether the server presents another certificate than the one that failed. None (it could
    not be read now: the server is down, slow, or speaks no TLS) is no change: the account stays
    held back and the next slot looks again."""
    return presented is not None and presented.lower() != recorded.lower()
