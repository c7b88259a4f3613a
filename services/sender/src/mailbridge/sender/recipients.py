"""A mail's recipients across attempts (#17): a retry goes only to those refused temporarily.

An attempt sends to the envelope recipients not yet settled (`still_to_send`): never again to one
that got 250 with the data taken, nor to one refused for good. What it learns is merged into the
row's states (`merged`, the shape of `common.recipient_states`). A transaction the server took
(DATA 250) with some recipients refused temporarily (450 greylisting, 451, 452) delivered to the
others; the mail is then queued again for the rest (`partial_retry`: RETRY, the reply naming
them). When no more attempts come, a mail that reached anybody is sent, not failed
(`reached_someone`): the refused recipients keep their state and reply on the item.
"""

from collections.abc import Mapping
from typing import Any

from mailbridge.common.recipient_states import RecipientState, entry
from mailbridge.sender.model import Verdict
from mailbridge.sender.ports import Delivery

States = Mapping[str, Mapping[str, Any]]  # address → {"state", "reply", "attempt"}


def _settled(found: Mapping[str, Any] | None) -> bool:
    return found is not None and found.get("state") != RecipientState.REFUSED_TEMPORARILY


def still_to_send(envelope_to: tuple[str, ...], states: States) -> tuple[str, ...]:
    """The recipients this attempt sends to, in envelope order."""
    return tuple(address for address in envelope_to if not _settled(states.get(address)))


def merged(states: States, delivery: Delivery, attempt: int) -> dict[str, dict[str, Any]]:
    """The states after this attempt: what it learnt about a recipient replaces what was known."""
    after = {address: dict(found) for address, found in states.items()}
    for address, (state, reply) in delivery.recipients.items():
        after[address] = entry(state, reply, attempt)
    return after


def partial_retry(delivery: Delivery, tried: tuple[str, ...], states: States) -> Delivery:
    """A delivered transaction that left recipients refused temporarily comes again, for them."""
    waiting = [address for address in tried if not _settled(states.get(address))]
    if delivery.outcome is not Verdict.DONE or not waiting:
        return delivery
    refusals = "; ".join(f"{address}: {states[address]['reply']}" for address in waiting if address in states)
    reply = (
        f"accepted for {len(tried) - len(waiting)} of {len(tried)} recipients; refused temporarily, "
        f"to be tried again: {refusals or ', '.join(waiting)}"
    )
    return Delivery(Verdict.RETRY, reply, delivery.recipients)


def reached_someone(verdict: Verdict, states: States) -> Verdict:
    """A mail given up on after some recipient accepted it was sent (to them): DONE."""
    accepted = any(found.get("state") == RecipientState.ACCEPTED for found in states.values())
    return Verdict.DONE if verdict is Verdict.GIVE_UP and accepted else verdict


def nothing_left(states: States) -> Delivery:
    """Every recipient settled before this attempt (its outcome recorded, the command redelivered):
    nothing is sent; sent if anybody accepted it, else failed."""
    accepted = any(found.get("state") == RecipientState.ACCEPTED for found in states.values())
    verdict = Verdict.DONE if accepted else Verdict.GIVE_UP
    return Delivery(verdict, "every recipient was already tried to the end")
