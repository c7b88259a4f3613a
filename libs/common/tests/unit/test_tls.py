"""MAILBRIDGE_EXTRA_CA_FILE (S9, #13): a PEM bundle of several CAs, every one trusted besides
the system's, whatever SSL_CERT_FILE says; verification stays on."""

import asyncio
import ssl
from pathlib import Path

import certifi
import pytest
from mailbridge.common.tls import client_context
from mailbridge.testkit.tls import ensure_tls_files


def public_ca_pem() -> bytes:
    """The first CA of certifi's bundle: a real CA that did not sign our test server."""
    text = Path(certifi.where()).read_text()
    end = "-----END CERTIFICATE-----"
    return (text[text.index("-----BEGIN CERTIFICATE-----") : text.index(end) + len(end)] + "\n").encode()


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    """Another company CA first, then the CA that signed the test server: both must count."""
    path = tmp_path / "company-cas.pem"
    path.write_bytes(public_ca_pem() + ensure_tls_files().ca_cert.read_bytes())
    return path


def test_every_ca_of_the_bundle_is_trusted(
    bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "no-system-trust.pem"))  # only the bundle counts
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    trusted = client_context(bundle).get_ca_certs(binary_form=True)
    assert len(trusted) == 2
    for pem in (public_ca_pem(), ensure_tls_files().ca_cert.read_bytes()):
        assert ssl.PEM_cert_to_DER_cert(pem.decode()) in trusted


async def handshake(context: ssl.SSLContext) -> None:
    files = ensure_tls_files()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(files.server_cert, files.server_key)

    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(greet, "127.0.0.1", 0, ssl=server_context)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=context, server_hostname="localhost"
        )
        assert await reader.readline() == b"hello\n"
        writer.close()
    finally:
        server.close()
        await server.wait_closed()


async def test_a_server_signed_by_a_ca_of_the_bundle_is_verified(
    bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", certifi.where())  # changes the system's trust, not the extra CAs
    await handshake(client_context(bundle))
    with pytest.raises(ssl.SSLCertVerificationError):
        await handshake(client_context(None))
