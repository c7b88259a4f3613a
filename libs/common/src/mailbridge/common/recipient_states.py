"""Each recipient's state on an outbox item, as the sender writes it and the API shows it (#17).

`outbox_messages.recipient_states` maps every envelope recipient the sender has tried to
`{"state", "reply", "attempt"}`: `accepted` (250 to RCPT and the server took the data),
`refused_temporarily` (4xx, or 552: RFC 5321 §4.5.3.1.10; tried again on the next attempt, only
they), `refused_permanently` (other 5xx). A recipient not listed has not been tried yet. Rows
sent before this existed keep `recipient_results`: the refused recipients only, each with its
reply ("550 5.1.1 no such user"); `legacy_states` reads them into the same shape.
"""

from enum import StrEnum
from typing import Any

TEMPORARY_5XX = frozenset({552})  # RFC 5321 §4.5.3.1.10: "too many recipients" from old servers


class RecipientState(StrEnum):
    ACCEPTED = "accepted"
    REFUSED_TEMPORARILY = "refused_temporarily"
    REFUSED_PERMANENTLY = "refused_permanently"

    @property
    def settled(self) -> bool:
        """Whether another attempt has nothing more to do for this recipient."""
        return self is not RecipientState.REFUSED_TEMPORARILY


def state_of(code: int) -> RecipientState:
    """The state a reply code to RCPT (or to the data, for the recipients it covered) leaves."""
    if 200 <= code < 300:
        return RecipientState.ACCEPTED
    if 500 <= code < 600 and code not in TEMPORARY_5XX:
        return RecipientState.REFUSED_PERMANENTLY
    return RecipientState.REFUSED_TEMPORARILY


def entry(state: RecipientState, reply: str, attempt: int) -> dict[str, Any]:
    return {"state": state.value, "reply": reply, "attempt": attempt}


def legacy_states(refused: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """`recipient_results` of a row sent before 0015 (address → "CODE text") in today's shape;
    the attempt is not known there (0)."""
    states = {}
    for address, reply in refused.items():
        said = str(reply)
        code = int(said[:3]) if said[:3].isdigit() else 0
        states[address] = entry(state_of(code) if code else RecipientState.REFUSED_PERMANENTLY, said, 0)
    return states
