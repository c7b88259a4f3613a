"""#18 IMAP IDLE push through real fetcher processes (`python -m mailbridge.fetcher`): a message
delivered by Postfix to Dovecot comes out as MailFetched without any scheduled or manual fetch
(the IDLE connection's EXISTS → FetchRequested(push) → the normal fetch); the two replicas split
the two accounts, one each; after a SIGKILL of the replica idling an account, the other one
takes the account's IDLE lease once it expires and the next delivery is fetched by push again.

No scheduler runs here, so every MailFetched is a push's. Waits are generous and nothing is
timed (bench/idle.py measures the latency)."""

import asyncio
import json
import smtplib
import time
import uuid
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

from mailbridge.common.db.engine import create_engine, create_session_factory
from mailbridge.common.db.mailstore import IdleLease
from mailbridge.common.events import MailFetched
from mailbridge.common.messaging import create_broker
from mailbridge.common.secrets import SecretBox, generate_key
from mailbridge.common.streams import ensure_streams
from mailbridge.testkit.fetcher_fleet import (
    FetcherFleet,
    add_imap_accounts,
    add_mail_users,
    fetch_queue_durable,
    fetcher_env,
    wait_for_pullers,
)
from mailbridge.testkit.stack import MailStack
from mailbridge.testkit.users import MailUser
from nats.aio.msg import Msg
from sqlalchemy import select

WAIT_S = 90.0
IDLE_LEASE_TTL_S = 3.0


async def _wait_for(what: str, done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not done():
        assert time.monotonic() < deadline, f"not within {WAIT_S} s: {what}"
        await asyncio.sleep(0.1)


def _idling_now(fleet: FetcherFleet) -> dict[uuid.UUID, int]:
    """Which replica began IDLE last for each account, by the log lines' times."""
    lines = []
    for index in range(len(fleet.processes)):
        for line in (fleet.log_dir / f"fetcher-{index}.log").read_bytes().splitlines():
            if b'"IDLE on INBOX"' in line:
                record = json.loads(line)
                lines.append((record["ts"], index, uuid.UUID(record["account_id"])))
    return {account: index for _, index, account in sorted(lines)}


def _deliver(stack: MailStack, user: MailUser, subject: str) -> None:
    """Through Postfix's SMTP port, which hands it to Dovecot over LMTP."""
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "sender@example.org", user.address, subject
    mail.set_content(f"{subject}\r\n")
    with smtplib.SMTP(stack.host, stack.ports.smtp) as smtp:
        smtp.send_message(mail)


async def test_18_new_mail_is_fetched_by_push_and_moves_to_another_replica_after_sigkill(
    tmp_path: Path, mail_stack: MailStack, postgres_url: str, nats: str, fleet: FetcherFleet
) -> None:
    key = generate_key()
    engine = create_engine(postgres_url)
    sessions = create_session_factory(engine)
    broker = create_broker(nats, "idle-push-test")
    fetched: list[MailFetched] = []

    async def on_fetched(message: Msg) -> None:
        fetched.append(MailFetched.model_validate_json(message.data))

    def subjects_of(account_id: uuid.UUID) -> list[str | None]:
        return [event.subject_line for event in fetched if event.account_id == account_id]

    users = add_mail_users(mail_stack, 2, prefix="idle")
    try:
        accounts = await add_imap_accounts(sessions, SecretBox([key]), users, mail_stack.ports.imaps)
        watched, user = accounts[0].account_id, users[0]
        await broker.connect()
        js = broker.connection.jetstream()
        await ensure_streams(js)
        await fetch_queue_durable(js, 30.0)
        await broker.connection.subscribe(MailFetched.subject, cb=on_fetched)
        fleet.env = fetcher_env(postgres_url, nats, key, mail_stack.ca_file, tmp_path, {
            "MAILBRIDGE_IMAP_IDLE_LEASE_TTL_S": str(IDLE_LEASE_TTL_S), "MAILBRIDGE_IMAP_IDLE_MAX": "100",
        })  # fmt: skip
        fleet.start(2)
        await wait_for_pullers(js, 2, WAIT_S)
        everyone = {a.account_id for a in accounts}
        await _wait_for(
            "each replica idling one of the two accounts (their shares)",
            lambda: set(_idling_now(fleet)) == everyone and sorted(_idling_now(fleet).values()) == [0, 1],
        )

        _deliver(mail_stack, user, "pushed 1")
        await _wait_for("MailFetched of the first delivery", lambda: "pushed 1" in subjects_of(watched))
        assert fetched[0].account_id == watched, "nothing else was fetched"

        victim = _idling_now(fleet)[watched]
        survivor = 1 - victim
        fleet.kill(victim)
        await _wait_for(
            "the account in IDLE on the surviving replica",
            lambda: _idling_now(fleet).get(watched) == survivor,
        )
        async with sessions() as session:
            holder = await session.scalar(select(IdleLease.holder).where(IdleLease.account_id == watched))
        assert holder == fleet.holder(survivor)

        _deliver(mail_stack, user, "pushed 2")
        await _wait_for("MailFetched of the second delivery", lambda: "pushed 2" in subjects_of(watched))
        first = {event.message_id for event in fetched if event.subject_line == "pushed 1"}
        assert len(first) == 1, "stored once (its event may come twice: at least once)"
    finally:
        await broker.stop()
        await engine.dispose()
