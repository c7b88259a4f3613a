"""What went wrong on an IMAP connection, as a `FetchFailure` a person can act on: the error
taxonomy of the IMAP adapter as data (#10 item 9). A server that is not IMAP, or a certificate
that is not trusted, will not get better by itself (permanent); everything else may (transient).
"""

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aioimaplib import AioImapException, CommandTimeout, Response
from mailbridge.fetcher.adapters.imap_protocol import NotImap
from mailbridge.fetcher.failures import permanent, transient


@asynccontextmanager
async def failures(doing: str, host: str, timeout_s: float) -> AsyncIterator[None]:
    """Library and network errors inside the block leave as fetch failures that say `doing`."""
    try:
        yield
    except NotImap as error:
        raise permanent(f"{doing}: {error}") from error
    except ssl.SSLCertVerificationError as error:
        raise permanent(f"TLS certificate of {host} not trusted: {error.verify_message}") from error
    except ssl.SSLError as error:
        raise transient(f"{doing}: TLS failed: {error}") from error
    except CommandTimeout as error:  # aioimaplib's own timer: no bytes for a while
        raise transient(f"{doing}: the server stopped sending for {timeout_s:g} s") from error
    except (OSError, TimeoutError, AioImapException) as error:
        raise transient(f"{doing}: {error or type(error).__name__}") from error


def text(response: Response) -> str:
    """What the server said in an answer (the reason's length is bounded by FetchFailure)."""
    parts = [line.decode(errors="replace") for line in response.lines if isinstance(line, bytes)]
    return " ".join(parts) or response.result


def require_ok(response: Response, name: str) -> None:
    if response.result != "OK":
        raise transient(f"IMAP {name} answered {response.result}: {text(response)}")
