"""Mail addresses in header values: the plain forms read by one regular expression, everything
else by the standard library, with the same result either way.

`email.utils.getaddresses` and `parseaddr` walk a value one character at a time (about 35 µs for
`Name <user@example.org>`); most values are `user@host`, `<user@host>` or `Display Name
<user@host>` with plain words, which a regular expression reads in a few µs. A value with
anything more (quotes, comments, groups, a comma inside a name, non-ASCII) goes to the standard
library whole.
"""

import re
from email.utils import getaddresses, parseaddr

_SPACE = r"[ \t\r\n]"
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_ADDRESS = rf"{_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
_NAME = rf"{_ATOM}(?:{_SPACE}+{_ATOM})*{_SPACE}*"  # words apart by spaces: no backtracking blow-up
_PLAIN_MAILBOX = re.compile(rf"{_SPACE}*(?:({_NAME})?<({_ADDRESS})>|({_ADDRESS})){_SPACE}*")
_PLAIN_ADDRESS = re.compile(_ADDRESS)


def is_plain_address(value: str) -> bool:
    """`local@domain` of dot-atoms only: what `parseaddr` returns unchanged and an SMTP command
    carries as `<value>` without quoting."""
    return _PLAIN_ADDRESS.fullmatch(value) is not None


def addresses(values: list[str]) -> list[str]:
    """The addresses (those with an @) in `values`, in order, as `getaddresses` finds them."""
    found: list[str] = []
    for value in values:
        for entry in value.split(","):
            plain = _PLAIN_MAILBOX.fullmatch(entry)
            if plain is None:
                return [address for _, address in getaddresses(values) if address and "@" in address]
            found.append(plain.group(2) or plain.group(3))
    return found


def mailbox(value: str) -> tuple[str, str]:
    """(display name, address) of one mailbox, as `parseaddr` reads it."""
    plain = _PLAIN_MAILBOX.fullmatch(value)
    if plain is None:
        return parseaddr(value)
    name, bracketed, bare = plain.groups()
    return (" ".join(name.split()) if name else "", bracketed or bare)
