"""The network probes of the credentials test (T1) before and beside a protocol's own client: does
the host resolve, does the port accept a TCP connection, does it speak TLS. No bytes of any mail
protocol are sent here; fetcher and sender log in with their own clients afterwards.
"""

import asyncio
import contextlib
import socket
import ssl


async def resolve(host: str, port: int, timeout_s: float) -> list[str]:
    """The host's addresses (socket.gaierror when it does not resolve, TimeoutError when DNS is slow)."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(timeout_s):
        found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in found})


async def reach(host: str, port: int, timeout_s: float) -> None:
    """Open a TCP connection and close it at once (OSError or TimeoutError when it cannot)."""
    async with asyncio.timeout(timeout_s):
        _, writer = await asyncio.open_connection(host, port)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


async def speaks_tls(host: str, port: int, timeout_s: float) -> bool:
    """Whether a TLS handshake succeeds on the port, whatever the certificate: used after a plain
    client got no greeting, to tell "this port expects TLS first" from a silent server."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # only the handshake is asked about, never data sent
    try:
        async with asyncio.timeout(timeout_s):
            _, writer = await asyncio.open_connection(host, port, ssl=context)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError, ssl.SSLError):
        await writer.wait_closed()
    return True


async def handshake(host: str, port: int, context: ssl.SSLContext, timeout_s: float) -> None:
    """A TLS handshake with `context` (the certificate verified as a client would), then close:
    for protocols whose client cannot take the TLS step apart from the login (POP3 here)."""
    async with asyncio.timeout(timeout_s):
        _, writer = await asyncio.open_connection(host, port, ssl=context, server_hostname=host)
    writer.close()
    with contextlib.suppress(OSError, ssl.SSLError):
        await writer.wait_closed()
