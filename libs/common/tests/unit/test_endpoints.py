"""S3, S8, S9: `host[:port]` parsing, default ports and transport security."""

import pytest
from mailbridge.common.endpoints import (
    Endpoint,
    EndpointError,
    HostPort,
    IncomingProtocol,
    SmtpEncryption,
    TlsMode,
    TransportSecurity,
    incoming_endpoint,
    incoming_port,
    incoming_security,
    parse_host_port,
    smtp_port,
)


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("smtp.example.com", "smtp.example.com", None),
        ("smtp.example.com:25", "smtp.example.com", 25),
        ("127.0.0.1:25", "127.0.0.1", 25),
        ("[::1]:587", "::1", 587),
        ("[::1]", "::1", None),
        (" mail.example.com ", "mail.example.com", None),
    ],
)
def test_parse_host_port(text: str, host: str, port: int | None) -> None:
    assert parse_host_port(text) == HostPort(host, port)


@pytest.mark.parametrize("text", ["[::1]:587", "smtp.example.com:25", "[2001:db8::1]"])
def test_host_port_round_trips(text: str) -> None:
    assert str(parse_host_port(text)) == text


@pytest.mark.parametrize(
    "text",
    ["", "::1", "[::1", "[::1]x", "[zz::1]", "host:", "host:0", "host:65536", "-bad-.com", "a_b c"],
)
def test_parse_host_port_rejects(text: str) -> None:
    with pytest.raises(EndpointError):
        parse_host_port(text)


@pytest.mark.parametrize(
    ("encryption", "expected"),
    [(SmtpEncryption.AUTO, 587), (SmtpEncryption.NONE, 587), (SmtpEncryption.SSL, 465)],
)
def test_s3_default_smtp_port_follows_encryption(encryption: SmtpEncryption, expected: int) -> None:
    assert smtp_port(HostPort("smtp.example.com", None), encryption) == expected
    assert smtp_port(HostPort("smtp.example.com", 2525), encryption) == 2525


@pytest.mark.parametrize(
    ("protocol", "tls", "expected"),
    [
        (IncomingProtocol.IMAP, True, 993),
        (IncomingProtocol.IMAP, False, 143),
        (IncomingProtocol.IMAP_DOWNLOAD, True, 993),
        (IncomingProtocol.POP3, True, 995),
        (IncomingProtocol.POP3, False, 110),
    ],
)
def test_s8_default_incoming_port(protocol: IncomingProtocol, tls: bool, expected: int) -> None:
    assert incoming_port(HostPort("mail.example.com", None), protocol, tls) == expected


@pytest.mark.parametrize(
    ("port", "tls", "mode", "expected"),
    [
        (None, True, TlsMode.AUTO, TransportSecurity.IMPLICIT_TLS),
        (993, True, TlsMode.AUTO, TransportSecurity.IMPLICIT_TLS),
        (143, True, TlsMode.AUTO, TransportSecurity.STARTTLS),
        (10143, True, TlsMode.AUTO, TransportSecurity.STARTTLS),
        (10993, True, TlsMode.IMPLICIT, TransportSecurity.IMPLICIT_TLS),
        (993, True, TlsMode.STARTTLS, TransportSecurity.STARTTLS),
        (993, False, TlsMode.IMPLICIT, TransportSecurity.NONE),
    ],
)
def test_s9_incoming_security(
    port: int | None, tls: bool, mode: TlsMode, expected: TransportSecurity
) -> None:
    endpoint = HostPort("imap.example.com", port)
    assert incoming_security(endpoint, IncomingProtocol.IMAP, tls, mode) == expected


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        (("imap.example.org", "imap", True, "auto"), ("imap.example.org", 993, TransportSecurity.IMPLICIT_TLS)),
        (("[::1]:1143", "imap_download", True, "auto"), ("::1", 1143, TransportSecurity.STARTTLS)),
        (("pop.example.org", "pop3", False, "auto"), ("pop.example.org", 110, TransportSecurity.NONE)),
        (("pop.example.org:1995", "pop3", True, "implicit"), ("pop.example.org", 1995, TransportSecurity.IMPLICIT_TLS)),
    ],
)  # fmt: skip
def test_s8_s9_incoming_endpoint_from_stored_settings(
    stored: tuple[str, str, bool, str], expected: tuple[str, int, TransportSecurity]
) -> None:
    assert incoming_endpoint(*stored) == Endpoint(*expected)
