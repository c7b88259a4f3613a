"""A12 out-of-office, RFC 3834: each rule of `auto_reply_rules.decide` on its own, without I/O."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from mailbridge.sender.auto_reply_headers import Incoming, envelope_sender
from mailbridge.sender.auto_reply_rules import Account, Hold, OutOfOffice, Reply, decide, machine_address

NOW = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
SETTINGS = OutOfOffice(
    enabled=True, subject="Out of office", body="Back on Monday.\n", starts_at=None, ends_at=None,
    reply_interval_days=7, saved_at=NOW - timedelta(days=1),
)  # fmt: skip
ACCOUNT = Account(address="Anna@Example.ORG", inbox_folder="INBOX", may_set_out_of_office=True, can_send=True)
HEADERS: dict[str, list[str]] = {
    "return-path": ["<bob@example.net>"],
    "from": ["Bob <bob@example.net>"],
    "to": ["Anna <anna@example.org>"],
    "subject": ["Meeting on Friday"],
    "date": ["Wed, 01 Jul 2026 11:58:00 +0000"],
    "message-id": ["<m1@example.net>"],
}


def incoming(in_folder: str = "INBOX", /, **changes: list[str] | None) -> Incoming:
    headers = dict(HEADERS)
    for name, values in changes.items():
        key = name.replace("_", "-")
        if values is None:
            headers.pop(key, None)
        else:
            headers[key] = values
    return Incoming(in_folder, headers)


def reply_to(message: Incoming, settings: OutOfOffice = SETTINGS, account: Account = ACCOUNT) -> Reply:
    found = decide(settings, account, message, NOW)
    assert isinstance(found, Reply), found
    return found


def test_a12_rfc3834_an_ordinary_mail_gets_the_reply_the_rfc_describes() -> None:
    reply = reply_to(incoming(references=["<m0@example.net>"]))
    assert reply == Reply(
        to="bob@example.net", subject="Out of office: Meeting on Friday", body="Back on Monday.\n",
        in_reply_to="<m1@example.net>", references=("<m0@example.net>", "<m1@example.net>"),
    )  # fmt: skip
    assert reply.correspondent == "bob@example.net"


def test_a12_rfc3834_3_1_5_without_an_original_subject_the_configured_one_alone() -> None:
    assert reply_to(incoming(subject=None)).subject == "Out of office"
    assert reply_to(incoming(subject=["   "])).subject == "Out of office"


def test_a12_rfc3834_3_1_5_an_encoded_subject_is_decoded_and_a_folded_one_unfolded() -> None:
    assert reply_to(incoming(subject=["=?utf-8?q?Gr=C3=BC=C3=9Fe?="])).subject == "Out of office: Grüße"
    assert reply_to(incoming(subject=["Long\r\n subject"])).subject == "Out of office: Long subject"


def test_a12_rfc3834_3_1_6_no_message_id_no_in_reply_to() -> None:
    reply = reply_to(incoming(message_id=None))
    assert reply.in_reply_to is None
    assert reply.references == ()


@pytest.mark.parametrize(
    ("change", "hold"),
    [
        ({"enabled": False}, Hold.NOT_ENABLED),
        ({"starts_at": NOW + timedelta(hours=1)}, Hold.OUTSIDE_PERIOD),
        ({"ends_at": NOW}, Hold.OUTSIDE_PERIOD),  # the end is excluded
        ({"ends_at": NOW - timedelta(days=1)}, Hold.OUTSIDE_PERIOD),
    ],
)
def test_a12_not_enabled_or_outside_the_period_no_reply(change: dict[str, object], hold: Hold) -> None:
    assert decide(replace(SETTINGS, **change), ACCOUNT, incoming(), NOW) is hold  # type: ignore[arg-type]


def test_a12_inside_the_period_a_reply() -> None:
    period = replace(SETTINGS, starts_at=NOW - timedelta(days=2), ends_at=NOW + timedelta(seconds=1))
    assert isinstance(decide(period, ACCOUNT, incoming(), NOW), Reply)


def test_a12_an_account_that_may_no_longer_set_it_sends_none() -> None:
    account = replace(ACCOUNT, may_set_out_of_office=False)
    assert decide(SETTINGS, account, incoming(), NOW) is Hold.NOT_ALLOWED


@pytest.mark.parametrize("folder", ["Sent", "Trash", "Junk", "Archive"])
def test_a12_only_mail_fetched_into_the_inbox_is_answered(folder: str) -> None:
    assert decide(SETTINGS, ACCOUNT, incoming(folder), NOW) is Hold.NOT_INBOX
    account = replace(ACCOUNT, inbox_folder=folder)  # A11: the account's own inbox
    assert isinstance(decide(SETTINGS, account, incoming(folder), NOW), Reply)


def test_a12_g5_mail_dated_before_the_out_of_office_began_is_not_answered() -> None:
    old = incoming(date=["Mon, 01 Jun 2026 09:00:00 +0000"])
    assert decide(SETTINGS, ACCOUNT, old, NOW) is Hold.OLDER_THAN_OUT_OF_OFFICE
    started = replace(SETTINGS, starts_at=datetime(2026, 5, 1, tzinfo=UTC))
    assert isinstance(decide(started, ACCOUNT, old, NOW), Reply)
    skewed = incoming(date=["Tue, 30 Jun 2026 11:55:00 +0000"])  # five minutes before saving
    assert isinstance(decide(SETTINGS, ACCOUNT, skewed, NOW), Reply)
    assert isinstance(decide(SETTINGS, ACCOUNT, incoming(date=["not a date"]), NOW), Reply)


@pytest.mark.parametrize(
    "value", ["auto-generated", "auto-replied", "Auto-Replied; owner-email=x@example.net", "auto-notified"]
)
def test_a12_rfc3834_5_auto_submitted_other_than_no_gets_no_reply(value: str) -> None:
    assert decide(SETTINGS, ACCOUNT, incoming(auto_submitted=[value]), NOW) is Hold.AUTO_SUBMITTED


def test_a12_rfc3834_5_auto_submitted_no_is_answered() -> None:
    assert isinstance(decide(SETTINGS, ACCOUNT, incoming(auto_submitted=["No"]), NOW), Reply)


@pytest.mark.parametrize("value", ["OOF", "DR, NDR, RN, NRN, OOF, AutoReply", "All"])
def test_a12_x_auto_response_suppress_is_honoured(value: str) -> None:
    message = incoming(x_auto_response_suppress=[value])
    assert decide(SETTINGS, ACCOUNT, message, NOW) is Hold.RESPONSE_SUPPRESSED


@pytest.mark.parametrize("header", ["list_id", "list_unsubscribe", "list_post"])
def test_a12_rfc3834_2_list_mail_gets_no_reply(header: str) -> None:
    assert decide(SETTINGS, ACCOUNT, incoming(**{header: ["<team.example.net>"]}), NOW) is Hold.LIST_MAIL


@pytest.mark.parametrize("value", ["bulk", "List", "junk", " bulk "])
def test_a12_rfc3834_2_bulk_precedence_gets_no_reply(value: str) -> None:
    assert decide(SETTINGS, ACCOUNT, incoming(precedence=[value]), NOW) is Hold.BULK_PRECEDENCE


def test_a12_precedence_first_class_is_answered() -> None:
    assert isinstance(decide(SETTINGS, ACCOUNT, incoming(precedence=["first-class"]), NOW), Reply)


@pytest.mark.parametrize("return_path", ["<>", " <> ", ""])
def test_a12_rfc3834_2_the_null_sender_gets_no_reply(return_path: str) -> None:
    assert decide(SETTINGS, ACCOUNT, incoming(return_path=[return_path]), NOW) is Hold.NULL_SENDER


def test_a12_no_sender_at_all_gets_no_reply() -> None:
    message = incoming(return_path=None, **{"from": None})
    assert decide(SETTINGS, ACCOUNT, message, NOW) is Hold.NULL_SENDER


def test_a12_rfc3834_3_1_4_the_reply_goes_to_the_envelope_sender_not_from() -> None:
    message = incoming(return_path=["<bounces+bob@mailer.example.net>"])
    assert decide(SETTINGS, ACCOUNT, message, NOW) is Hold.MACHINE_SENDER
    message = incoming(return_path=["<bob.smith@example.net>"], **{"from": ["Bob <bob@example.net>"]})
    assert reply_to(message).to == "bob.smith@example.net"


def test_a12_without_return_path_sender_then_from() -> None:
    assert reply_to(incoming(return_path=None, sender=["<sec@example.net>"])).to == "sec@example.net"
    assert reply_to(incoming(return_path=None)).to == "bob@example.net"
    assert envelope_sender(incoming(return_path=["<first@example.net>", "<second@example.net>"])) == (
        "first@example.net"
    )


@pytest.mark.parametrize(
    "address",
    [
        "MAILER-DAEMON@example.net", "postmaster@example.net", "no-reply@example.net", "noreply@example.net",
        "do-not-reply@example.net", "donotreply@example.net", "bounce@example.net", "bounces@example.net",
        "bounces+123@example.net", "owner-team@example.net", "team-request@example.net",
        "noreply-alerts@example.net", "NoReply@Example.net",
    ],
)  # fmt: skip
def test_a12_rfc3834_2_machine_senders_get_no_reply(address: str) -> None:
    assert machine_address(address)
    assert decide(SETTINGS, ACCOUNT, incoming(return_path=[f"<{address}>"]), NOW) is Hold.MACHINE_SENDER


@pytest.mark.parametrize(
    "address", ["bob@example.net", "replyteam@example.net", "postmasters.guild@example.net"]
)
def test_a12_people_are_not_taken_for_machines(address: str) -> None:
    assert not machine_address(address)


def test_a12_mail_from_the_account_itself_is_not_answered() -> None:
    message = incoming(return_path=["<anna@example.org>"])
    assert decide(SETTINGS, ACCOUNT, message, NOW) is Hold.OWN_ADDRESS


@pytest.mark.parametrize(
    "to_cc",
    [
        {"to": ["someone@example.net, ANNA@example.org"]},
        {"to": ["team@example.net"], "cc": ['"Anna, A." <anna@EXAMPLE.org>']},
        {"to": ["a@example.net", "anna@example.org"]},
    ],
)
def test_a12_rfc3834_2_the_account_among_to_or_cc_case_insensitively(to_cc: dict[str, list[str]]) -> None:
    assert isinstance(decide(SETTINGS, ACCOUNT, incoming(**to_cc), NOW), Reply)


def test_a12_rfc3834_2_bcc_or_alias_mail_is_not_answered() -> None:
    message = incoming(to=["team@example.net"], cc=["anna@example.org.evil"])
    assert decide(SETTINGS, ACCOUNT, message, NOW) is Hold.NOT_A_RECIPIENT
    assert decide(SETTINGS, ACCOUNT, incoming(to=None), NOW) is Hold.NOT_A_RECIPIENT


def test_a12_a8_an_account_that_may_not_send_queues_no_reply() -> None:
    account = replace(ACCOUNT, can_send=False)
    assert decide(SETTINGS, account, incoming(), NOW) is Hold.CANNOT_SEND


def test_a12_header_injection_in_the_original_is_harmless() -> None:
    reply = reply_to(incoming(subject=["Hi\x00there\x07"], references=["<ok@x> bad\x01id <x\r\ny@z>"]))
    assert reply.subject == "Out of office: Hi there"
    assert reply.references == ("<ok@x>", "<xy@z>", "<m1@example.net>")


def test_a12_every_hold_fits_the_outcome_column() -> None:
    assert all(len(hold.value) <= 40 for hold in Hold)
