"""The certificate a mail server presents, read without trusting it (#17, `ports.CertificateReader`).

After a fetch failed because the server's certificate did not verify, the fetcher records which
certificate that was, and each later automatic slot asks whether the server presents another one
(`certificate_hold`). Python's ssl module hands out no certificate from a handshake that failed
verification, so this is one more handshake with verification off that only reads the leaf:
connect, TLS (implicit, or after IMAP's STARTTLS / POP3's STLS), read, close. Nothing is sent
over that connection, never a login; the whole of it is bounded by the endpoint's timeout, and a
server that cannot be read (down, slow, no TLS) gives None.
"""

import asyncio
import contextlib
import ssl

from mailbridge.common.endpoints import Endpoint, IncomingProtocol, TransportSecurity
from mailbridge.fetcher.certificate_hold import fingerprint

LINE_MAX = 8192  # the longest greeting or STARTTLS answer line read
LINES_MAX = 20  # untagged lines an IMAP server may send before answering STARTTLS
_TAG = b"c1"


class PresentedCertificates:
    """`presented`: the SHA-256 fingerprint of the server's leaf certificate, or None."""

    async def presented(self, endpoint: Endpoint, protocol: IncomingProtocol) -> str | None:
        if endpoint.security is TransportSecurity.NONE:
            return None
        try:
            async with asyncio.timeout(endpoint.timeout_s):
                der = await _read_leaf(endpoint, protocol)
        except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError):  # ssl.SSLError is an OSError
            return None
        return None if der is None else fingerprint(der)


def _unverified() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the certificate is only read and fingerprinted, nothing is sent
    return context


async def _read_leaf(endpoint: Endpoint, protocol: IncomingProtocol) -> bytes | None:
    host, port = endpoint.host, endpoint.port
    if endpoint.security is TransportSecurity.IMPLICIT_TLS:
        _, writer = await asyncio.open_connection(host, port, ssl=_unverified(), server_hostname=host)
    else:
        reader, writer = await asyncio.open_connection(host, port, limit=LINE_MAX)
        try:
            await _upgrade_request(reader, writer, protocol)
            await writer.start_tls(_unverified(), server_hostname=host)
        except BaseException:
            writer.close()
            raise
    try:
        tls = writer.get_extra_info("ssl_object")
        return tls.getpeercert(binary_form=True) if isinstance(tls, ssl.SSLObject) else None
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()


async def _upgrade_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, protocol: IncomingProtocol
) -> None:
    """The greeting, then STARTTLS (IMAP) or STLS (POP3) answered OK; ValueError otherwise."""
    pop3 = protocol is IncomingProtocol.POP3
    greeting = await reader.readline()
    if not greeting.startswith(b"+OK" if pop3 else b"* OK"):
        raise ValueError("no greeting")
    writer.write(b"STLS\r\n" if pop3 else _TAG + b" STARTTLS\r\n")
    await writer.drain()
    for _ in range(LINES_MAX):
        line = await reader.readline()
        if not line:
            raise ValueError("closed before the TLS upgrade")
        if pop3:
            answered = line.startswith(b"+OK")
        elif line.startswith(_TAG + b" "):
            answered = line[len(_TAG) + 1 :].upper().startswith(b"OK")
        else:
            continue  # an untagged IMAP line before the answer
        if not answered:
            raise ValueError("TLS upgrade refused")
        return
    raise ValueError("no answer to the TLS upgrade")
