"""#17: the rule that lets an account held back by a certificate failure be fetched again: the
server presents another certificate than the one recorded (`certificate_hold`), or the
configuration changed (`fetch_account.refusal`); without servers."""

import hashlib
from dataclasses import replace

import pytest
from fetcher_testing import ACCOUNT
from mailbridge.common.events import FetchReason
from mailbridge.fetcher.certificate_hold import certificate_changed, fingerprint, held_certificate
from mailbridge.fetcher.fetch_account import refusal
from mailbridge.fetcher.model import LastOutcome

RECORDED = "ab" * 32
FAILED = LastOutcome(
    True, ACCOUNT.config_version, "the TLS certificate of imap.test:993 is not trusted", RECORDED
)


def test_the_fingerprint_is_the_sha256_of_the_der_in_hex() -> None:
    assert fingerprint(b"\x30\x03der") == hashlib.sha256(b"\x30\x03der").hexdigest()


def test_another_certificate_is_a_change() -> None:
    assert certificate_changed(RECORDED, "cd" * 32)


@pytest.mark.parametrize("presented", [RECORDED, RECORDED.upper()])
def test_the_same_certificate_is_no_change(presented: str) -> None:
    assert not certificate_changed(RECORDED, presented)


def test_a_certificate_that_cannot_be_read_is_no_change() -> None:
    assert not certificate_changed(RECORDED, None)


def test_the_recorded_certificate_holds_an_account_whose_configuration_is_unchanged() -> None:
    assert held_certificate(ACCOUNT, FAILED) == RECORDED


@pytest.mark.parametrize(
    "previous",
    [
        None,  # never fetched
        replace(FAILED, permanent=False),  # a transient failure is retried anyway
        replace(FAILED, config_version="0.9"),  # the configuration changed: fetched anyway
        replace(FAILED, certificate=None),  # no certificate recorded: only a configuration change helps
    ],
)
def test_nothing_to_compare_when_no_certificate_failure_holds_the_account(
    previous: LastOutcome | None,
) -> None:
    assert held_certificate(ACCOUNT, previous) is None


def test_an_account_that_may_not_receive_is_not_looked_at() -> None:
    assert held_certificate(replace(ACCOUNT, can_receive=False), FAILED) is None


@pytest.mark.parametrize("reason", [FetchReason.SCHEDULED, FetchReason.PUSH])
def test_an_automatic_fetch_waits_unless_the_certificate_was_replaced(reason: FetchReason) -> None:
    assert refusal(reason, ACCOUNT, FAILED) == f"waiting for a configuration change: {FAILED.reason}"
    assert refusal(reason, ACCOUNT, FAILED, replaced=True) is None


def test_a_replaced_certificate_does_not_lift_other_refusals() -> None:
    quiet = replace(ACCOUNT, can_receive=False)
    assert refusal(FetchReason.SCHEDULED, quiet, FAILED, replaced=True) == "the account may not receive (A10)"


def test_a_manual_fetch_tries_at_once() -> None:
    assert refusal(FetchReason.MANUAL, ACCOUNT, FAILED) is None
