"""What went wrong on an IMAP connection, as a `FetchFailure` a person can act on: the error
taxonomy of the IMAP adapter as data (#10 item 9). A server that is not IMAP, or a certificate
that fails verification (#17: one verdict and reason for every service, `common.certificates`),
will not get better by itself (permanent); everything else may (transient).
"""

import re
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aioimaplib import AioImapException, CommandTimeout, Response
from mailbridge.common.certificates import certificate_problem
from mailbridge.fetcher.adapters.imap_protocol import NotImap
from mailbridge.fetcher.failures import FetchFailure, permanent, transient


@asynccontextmanager
async def failures(doing: str, where: str, timeout_s: float) -> AsyncIterator[None]:
    """Library and network errors inside the block leave as fetch failures that say `doing`;
    a certificate's with the verdict and reason every service gives it (`common.certificates`)."""
    try:
        yield
    except NotImap as error:
        raise permanent(f"{doing}: {error}") from error
    except ssl.SSLCertVerificationError as error:
        raise permanent(certificate_problem(error, where).reason) from error
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


# A refused LOGIN or SELECT (#11): "not now" (a limit the server lifts by itself; the next poll
# may pass) or "not so" (a wrong password, a folder that does not exist: a person must act).
# The RFC 5530 response code decides where there is one; only without one do the words decide,
# and only these, each taken from a provider's answer (testkit.providers has them with sources):
# Exchange's "Request is throttled" and "Server Unavailable. 15" and "User is authenticated but
# not connected.", Gmail's "[ALERT] Too many simultaneous connections." and Cyrus's "Too many
# open connections". Words a wrong password may come with ("try again", "failed") are no sign.
NOT_NOW_CODES = frozenset({"UNAVAILABLE", "INUSE", "LIMIT", "OVERQUOTA", "THROTTLED"})
NOT_SO_CODES = frozenset({
    "AUTHENTICATIONFAILED", "AUTHORIZATIONFAILED", "EXPIRED", "PRIVACYREQUIRED", "CONTACTADMIN",
    "NOPERM", "NONEXISTENT", "CANNOT", "CLIENTBUG",
})  # fmt: skip
NOT_NOW_WORDS = ("throttl", "too many", "unavailable", "not connected")
_CODE = re.compile(r"\s*\[([A-Za-z0-9.-]+)")


def refused_for_now(said: str) -> bool:
    """Whether a tagged NO or BAD text (the line after the tag and status) means "not now"."""
    code = _CODE.match(said)
    if code and code.group(1).upper() in NOT_NOW_CODES | NOT_SO_CODES:
        return code.group(1).upper() in NOT_NOW_CODES
    lowered = said.lower()
    return any(word in lowered for word in NOT_NOW_WORDS)


def refusal(response: Response, reason: str) -> FetchFailure:
    """A refused command as a failure: transient when the server says "not now", else permanent."""
    said = tagged_text(response)
    return (transient if refused_for_now(said) else permanent)(f"{reason}: {text(response)}")


def tagged_text(response: Response) -> str:
    """The text of the tagged answer (aioimaplib's last line), without the untagged lines."""
    last = response.lines[-1] if response.lines else b""
    return last.decode(errors="replace") if isinstance(last, bytes) else ""
