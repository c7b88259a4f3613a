"""SMTP replies classified (2xx sent, 4xx and 552 temporary, other 5xx permanent), recipients
recorded one by one, and network failures explained by their cause."""

import socket
import ssl

import pytest
from mailbridge.common.recipient_states import RecipientState
from mailbridge.sender.model import Verdict
from mailbridge.sender.smtp_replies import (
    RecipientReply,
    SmtpResult,
    all_refused,
    classify,
    network_reason,
)

SENT, TEMPORARY, PERMANENT = Verdict.DONE, Verdict.RETRY, Verdict.GIVE_UP


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        (250, SENT), (251, SENT),
        (421, TEMPORARY), (450, TEMPORARY), (451, TEMPORARY), (452, TEMPORARY), (454, TEMPORARY),
        (552, TEMPORARY),  # RFC 5321 §4.5.3.1.10, as GNU Mailman treats it
        (500, PERMANENT), (530, PERMANENT), (535, PERMANENT), (550, PERMANENT), (551, PERMANENT),
        (553, PERMANENT), (554, PERMANENT),
        (354, TEMPORARY), (0, TEMPORARY),  # not a final reply here: the conversation went wrong
    ],
)  # fmt: skip
def test_classify(code: int, outcome: Verdict) -> None:
    assert classify(code) is outcome


def test_partial_refusal_is_sent_and_recorded_per_recipient() -> None:
    replies = (RecipientReply("a@x", 250, "OK"), RecipientReply("b@x", 550, "5.1.1 no such user"))
    result = SmtpResult(SENT, "250 queued", replies)
    assert result.partial
    assert result.refused == (replies[1],)
    delivery = result.delivery()
    assert (delivery.outcome, delivery.reply) == (SENT, "250 queued")
    assert delivery.recipients == {
        "a@x": (RecipientState.ACCEPTED, "250 OK"),
        "b@x": (RecipientState.REFUSED_PERMANENTLY, "550 5.1.1 no such user"),
    }


def test_recipients_accepted_at_rcpt_count_only_once_the_data_was_taken() -> None:
    """#17: a refused DATA delivered to nobody; only the RCPT refusals are states of their own."""
    replies = (RecipientReply("a@x", 250, "OK"), RecipientReply("b@x", 450, "4.2.0 greylisted"))
    delivery = SmtpResult(TEMPORARY, "message refused: 451 later", replies).delivery()
    assert delivery.recipients == {"b@x": (RecipientState.REFUSED_TEMPORARILY, "450 4.2.0 greylisted")}


def test_every_recipient_refused_is_final_only_when_every_refusal_is() -> None:
    final = all_refused([RecipientReply("a@x", 550, "no"), RecipientReply("b@x", 553, "no")])
    assert final.outcome is PERMANENT
    assert "a@x: 550 no" in final.reply
    mixed = all_refused([RecipientReply("a@x", 550, "no"), RecipientReply("b@x", 451, "later")])
    assert mixed.outcome is TEMPORARY
    assert not mixed.partial


def _wrapped(cause: BaseException) -> Exception:
    outer = ConnectionError("Error connecting to mail.example.org on port 587")
    outer.__cause__ = cause
    return outer


def test_network_reasons_name_the_cause() -> None:
    at = "mail.example.org:587"
    dns = network_reason(_wrapped(socket.gaierror(-2, "Name or service not known")), at)
    assert dns.startswith("DNS lookup for mail.example.org:587 failed")
    certificate = ssl.SSLCertVerificationError(1, "certificate verify failed")
    certificate.verify_message = "self-signed certificate"
    assert network_reason(_wrapped(certificate), at) == (  # #17: common.certificates' reason
        "the TLS certificate of mail.example.org:587 is not trusted (self-signed certificate): the server "
        "needs a certificate from a public authority, or its CA must be added to MAILBRIDGE_EXTRA_CA_FILE"
    )
    assert network_reason(_wrapped(ssl.SSLError(1, "wrong version number")), at).startswith("TLS handshake")
    assert network_reason(_wrapped(ConnectionRefusedError(111, "refused")), at).startswith("connection to")
    assert network_reason(_wrapped(TimeoutError()), at).startswith("timed out")
