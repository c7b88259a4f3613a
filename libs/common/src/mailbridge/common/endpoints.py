"""Server addresses: `host[:port]` parsing and the default ports (S3, S8, S9).

One source of truth for the port rules, used by config-api (validation, effective ports in
responses), the fetcher and the sender (where to connect, and how).
"""

import ipaddress
import re
import ssl
from dataclasses import dataclass
from enum import StrEnum

_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)*\.?$"
)


class SmtpEncryption(StrEnum):
    AUTO = "auto"
    NONE = "none"
    SSL = "ssl"


class IncomingProtocol(StrEnum):
    POP3 = "pop3"
    IMAP = "imap"
    IMAP_DOWNLOAD = "imap_download"


class TransportSecurity(StrEnum):
    """How a connection is secured: implicit TLS, a STARTTLS/STLS upgrade, or not at all."""

    IMPLICIT_TLS = "implicit_tls"
    STARTTLS = "starttls"
    NONE = "none"


class TlsMode(StrEnum):
    """How `incoming_tls` is applied: derived from the port (S9), or forced either way."""

    AUTO = "auto"
    IMPLICIT = "implicit"
    STARTTLS = "starttls"


class EndpointError(ValueError):
    """A `host[:port]` value that cannot be used."""


@dataclass(frozen=True)
class HostPort:
    host: str
    port: int | None

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"


def parse_host_port(value: str) -> HostPort:
    """Parse `host`, `host:port`, `1.2.3.4:25`, `[::1]:587` or `[::1]`; IPv6 needs brackets."""
    text = value.strip()
    if not text:
        raise EndpointError("host is empty")
    port_text: str | None = None
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise EndpointError("IPv6 address lacks its closing ']'")
        host, rest = text[1:end], text[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise EndpointError("expected ':port' after ']'")
            port_text = rest[1:]
        _require_ipv6(host)
    else:
        if text.count(":") > 1:
            raise EndpointError("an IPv6 address must be written in brackets, e.g. [::1]:587")
        host, _, port_text_or_empty = text.partition(":")
        port_text = port_text_or_empty if ":" in text else None
        if not _HOSTNAME.match(host) and not _is_ipv4(host):
            raise EndpointError(f"{host!r} is not a valid host name or IP address")
    return HostPort(host, None if port_text is None else _port(port_text))


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise EndpointError(f"port {text!r} is not a number from 1 to 65535")
    return int(text)


def _is_ipv4(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True


def _require_ipv6(host: str) -> None:
    try:
        ipaddress.IPv6Address(host)
    except ValueError as error:
        raise EndpointError(f"{host!r} is not a valid IPv6 address") from error


SMTP_DEFAULT_PORTS = {SmtpEncryption.AUTO: 587, SmtpEncryption.NONE: 587, SmtpEncryption.SSL: 465}
IMPLICIT_TLS_PORTS = {IncomingProtocol.POP3: 995, IncomingProtocol.IMAP: 993}
PLAIN_PORTS = {IncomingProtocol.POP3: 110, IncomingProtocol.IMAP: 143}


def smtp_port(endpoint: HostPort, encryption: SmtpEncryption) -> int:
    """S3: the given port, else 465 for implicit TLS and 587 otherwise."""
    return endpoint.port if endpoint.port is not None else SMTP_DEFAULT_PORTS[encryption]


def _wire_protocol(protocol: IncomingProtocol) -> IncomingProtocol:
    return IncomingProtocol.POP3 if protocol is IncomingProtocol.POP3 else IncomingProtocol.IMAP


def incoming_port(endpoint: HostPort, protocol: IncomingProtocol, tls: bool) -> int:
    """S8: the given port, else 993/995 with TLS and 143/110 without."""
    if endpoint.port is not None:
        return endpoint.port
    wire = _wire_protocol(protocol)
    return IMPLICIT_TLS_PORTS[wire] if tls else PLAIN_PORTS[wire]


def incoming_security(
    endpoint: HostPort, protocol: IncomingProtocol, tls: bool, mode: TlsMode = TlsMode.AUTO
) -> TransportSecurity:
    """S9: with TLS on, implicit TLS on 993/995 (or no port given) and STARTTLS on any other
    port, unless `mode` forces one of them (a non-standard port for implicit TLS)."""
    if not tls:
        return TransportSecurity.NONE
    if mode is TlsMode.IMPLICIT:
        return TransportSecurity.IMPLICIT_TLS
    if mode is TlsMode.STARTTLS:
        return TransportSecurity.STARTTLS
    port = incoming_port(endpoint, protocol, tls)
    if port == IMPLICIT_TLS_PORTS[_wire_protocol(protocol)]:
        return TransportSecurity.IMPLICIT_TLS
    return TransportSecurity.STARTTLS


@dataclass(frozen=True)
class Endpoint:
    """Where and how a mail server is reached: the one type for every protocol's connection
    (IMAP, POP3, the sender's IMAP for sent copies). `ssl_context` is the trust to verify the
    server with (None: the system's, `tls_context`); `timeout_s` bounds each step."""

    host: str
    port: int
    security: TransportSecurity
    ssl_context: ssl.SSLContext | None = None
    timeout_s: float = 30.0

    def tls_context(self) -> ssl.SSLContext:
        return self.ssl_context if self.ssl_context is not None else ssl.create_default_context()


def incoming_endpoint(host_port: str, protocol: str, tls: bool, mode: str = TlsMode.AUTO) -> Endpoint:
    """S8, S9: where and how a server's incoming side is reached, from its stored settings."""
    endpoint, wire = parse_host_port(host_port), IncomingProtocol(protocol)
    return Endpoint(
        endpoint.host,
        incoming_port(endpoint, wire, tls),
        incoming_security(endpoint, wire, tls, TlsMode(mode)),
    )
