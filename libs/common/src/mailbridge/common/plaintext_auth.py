"""S4: credentials never travel in clear, unless the host is on loopback or an admin allowed it.

`smtp_encryption: none` with `smtp_auth: true` would send the password (or an OAuth token) as
plain text over the network. The configuration API refuses such a server (422 on
`smtp_encryption`) and the sender refuses to log in on such a row should one exist anyway
(written before the rule, or straight to the database): one rule, here, for both. A relay on the
same machine (127.0.0.0/8, ::1, `localhost`) never puts the bytes on a wire, so it stays allowed;
elsewhere only the server's `allow_plaintext_auth` allows it (a trusted network, knowingly).
"""

import ipaddress

from mailbridge.common.endpoints import EndpointError, SmtpEncryption, parse_host_port

ALLOW_FIELD = "allow_plaintext_auth"


def on_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1, `localhost` and names under `.localhost` (RFC 6761 §6.3)."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def plaintext_auth_refusal(smtp_host: str, encryption: str, auth: bool, allowed: bool) -> str | None:
    """Why these SMTP settings would send credentials in clear, or None when they do not (or may).
    `smtp_host` is the server's `host[:port]` (S3) or a bare host."""
    if not auth or encryption != SmtpEncryption.NONE or allowed:
        return None
    try:
        host = parse_host_port(smtp_host).host
    except EndpointError:
        host = smtp_host
    if on_loopback(host):
        return None
    return (
        f"smtp_encryption none with smtp_auth sends the password in clear to {host} (S4): use auto "
        f"(STARTTLS) or ssl, or set {ALLOW_FIELD} on a network you trust"
    )
