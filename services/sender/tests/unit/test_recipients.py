"""#17: a mail's recipients across attempts, without a server: who a retry goes to, how an
attempt's replies are merged, when a delivered transaction comes again, when it is sent."""

from mailbridge.common.recipient_states import RecipientState, entry
from mailbridge.sender import recipients
from mailbridge.sender.model import Verdict
from mailbridge.sender.ports import Delivery

ACCEPTED, LATER, NEVER = (
    RecipientState.ACCEPTED,
    RecipientState.REFUSED_TEMPORARILY,
    RecipientState.REFUSED_PERMANENTLY,
)
ENVELOPE = ("a@x", "b@x", "c@x", "d@x")


def test_a_retry_goes_to_those_not_settled_in_envelope_order() -> None:
    states = {
        "a@x": entry(ACCEPTED, "250 ok", 1),
        "b@x": entry(LATER, "450 later", 1),
        "c@x": entry(NEVER, "550 no", 1),
    }
    assert recipients.still_to_send(ENVELOPE, states) == ("b@x", "d@x")
    assert recipients.still_to_send(ENVELOPE, {}) == ENVELOPE


def test_what_an_attempt_learns_replaces_what_was_known() -> None:
    before = {"a@x": entry(ACCEPTED, "250 ok", 1), "b@x": entry(LATER, "450 later", 1)}
    delivery = Delivery(Verdict.DONE, "250 queued", {"b@x": (ACCEPTED, "250 ok")})
    after = recipients.merged(before, delivery, 2)
    assert after == {"a@x": entry(ACCEPTED, "250 ok", 1), "b@x": entry(ACCEPTED, "250 ok", 2)}
    assert before["b@x"]["state"] == LATER, "the states read from the row are not changed in place"


def test_a_delivered_transaction_with_temporary_refusals_comes_again() -> None:
    delivery = Delivery(
        Verdict.DONE, "250 queued", {"a@x": (ACCEPTED, "250 ok"), "b@x": (LATER, "450 4.2.0 grey")}
    )
    states = recipients.merged({}, delivery, 1)
    again = recipients.partial_retry(delivery, ("a@x", "b@x"), states)
    assert again.outcome is Verdict.RETRY
    assert (
        again.reply
        == "accepted for 1 of 2 recipients; refused temporarily, to be tried again: b@x: 450 4.2.0 grey"
    )
    settled = Delivery(Verdict.DONE, "250 queued", {"a@x": (ACCEPTED, "250 ok"), "b@x": (NEVER, "550 no")})
    assert recipients.partial_retry(settled, ("a@x", "b@x"), recipients.merged({}, settled, 1)) is settled
    failed = Delivery(Verdict.RETRY, "connection lost")
    assert recipients.partial_retry(failed, ("a@x",), {}) is failed


def test_given_up_after_someone_accepted_is_sent() -> None:
    reached = {"a@x": entry(ACCEPTED, "250 ok", 1), "b@x": entry(LATER, "450 later", 2)}
    assert recipients.reached_someone(Verdict.GIVE_UP, reached) is Verdict.DONE
    assert recipients.reached_someone(Verdict.RETRY, reached) is Verdict.RETRY
    assert recipients.reached_someone(Verdict.GIVE_UP, {"b@x": entry(NEVER, "550 no", 1)}) is Verdict.GIVE_UP


def test_nothing_left_to_send() -> None:
    assert recipients.nothing_left({"a@x": entry(ACCEPTED, "250 ok", 1)}).outcome is Verdict.DONE
    assert recipients.nothing_left({"a@x": entry(NEVER, "550 no", 1)}).outcome is Verdict.GIVE_UP
