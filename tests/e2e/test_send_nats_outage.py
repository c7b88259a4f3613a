"""#10 item 2: accepted mail is never stuck. config-api (in process) and a sender process share a
private nats-server that the test stops and starts on the same port: a mail POSTed during the
outage gets 202, and once NATS is back it is sent without any manual step; a row left `queued`
without a command (the old bug: the row committed, the publish failed) is swept and sent too."""

import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
from mailbridge.common.db.engine import create_engine, create_session_factory
from mailbridge.common.db.migrate import upgrade_async
from mailbridge.common.db.outbox import OutboxMessage
from mailbridge.common.db.types import utcnow
from mailbridge.common.nats_embedded import start_embedded_nats
from mailbridge.common.net import free_port
from mailbridge.common.seal_keys import generate_seal_key
from mailbridge.common.secrets import generate_key
from mailbridge.config_api.api_keys import Role, create_api_key
from mailbridge.config_api.main import create_app
from mailbridge.config_api.settings import ConfigApiSettings
from mailbridge.testkit.config_rows import add_account
from mailbridge.testkit.stack import MailStack
from mailbridge.testkit.users import MailUser
from sqlalchemy import update


def _delivered_subjects(user: MailUser) -> set[str]:
    found = set()
    for sub in ("new", "cur"):
        folder = user.maildir / sub
        for path in folder.glob("*") if folder.exists() else []:
            for line in path.read_bytes().split(b"\n"):
                if line.lower().startswith(b"subject:"):
                    found.add(line.split(b":", 1)[1].strip().decode())
    return found


def _start_sender(env: dict[str, str], log_path: Path) -> "subprocess.Popen[bytes]":
    log = log_path.open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "mailbridge.sender"], env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
    )


async def test_mail_accepted_during_a_nats_outage_is_sent_once_nats_is_back(
    tmp_path: Path, mail_stack: MailStack, mail_user: MailUser
) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'outage.db'}"
    await upgrade_async(database_url)
    engine = create_engine(database_url)
    sessions = create_session_factory(engine)
    account = await add_account(sessions, smtp_host=f"127.0.0.1:{mail_stack.ports.smtp}")
    async with sessions() as session:
        key = await create_api_key(session, Role.ADMIN, None)
        await session.commit()
    secret = generate_key()
    port = free_port("127.0.0.1")
    with tempfile.TemporaryDirectory(prefix="mb-nats-") as store:
        nats = start_embedded_nats(Path(store), port=port)
        settings = ConfigApiSettings(
            database_url=database_url, nats_url=nats.url, secret_key=secret, var_dir=tmp_path, scheduler_tick_s=0
        )  # fmt: skip
        app = create_app(settings)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBRIDGE_")} | {
            "MAILBRIDGE_DATABASE_URL": database_url, "MAILBRIDGE_NATS_URL": nats.url, "MAILBRIDGE_SECRET_KEY": secret,
            "MAILBRIDGE_SEAL_KEY": generate_seal_key(),
            "MAILBRIDGE_VAR_DIR": str(tmp_path), "MAILBRIDGE_LOG_LEVEL": "WARNING",
        }  # fmt: skip
        sender = _start_sender(env, tmp_path / "sender.log")
        try:
            async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://mailbridge/api/v1",
                headers={"Authorization": f"Bearer {key}"}, timeout=30,
            ) as api:  # fmt: skip
                nats.stop()
                during = await api.post(
                    f"/mail-accounts/{account.account_id}/messages",
                    json={"to": [mail_user.address], "subject": "during the outage", "text": "hi"},
                )
                assert during.status_code == 202, during.text
                async with sessions() as session:  # the old bug: a row whose command never left
                    orphan = OutboxMessage(
                        account_id=account.account_id,
                        request={"to": [mail_user.address], "subject": "orphan"},
                    )
                    session.add(orphan)
                    await session.flush()
                    await session.execute(
                        update(OutboxMessage.__table__)  # type: ignore[arg-type]
                        .where(OutboxMessage.id == orphan.id)
                        .values(updated_at=utcnow() - timedelta(minutes=5))
                    )
                    await session.commit()
                await asyncio.sleep(2)  # config-api's relay tries, and fails, meanwhile
                nats = start_embedded_nats(Path(store), port=port)
                back = time.monotonic()
                ids = {uuid.UUID(during.json()["id"]): "during the outage", orphan.id: "orphan"}
                while True:
                    async with sessions() as session:
                        rows = [await session.get(OutboxMessage, outbox_id) for outbox_id in ids]
                    if all(row is not None and row.status == "sent" for row in rows):
                        break
                    assert time.monotonic() - back < 90, [(r.status, r.last_reply) for r in rows if r]
                    await asyncio.sleep(0.2)
                print(f"both mails sent {time.monotonic() - back:.1f} s after NATS was back")
                while not set(ids.values()) <= _delivered_subjects(mail_user):
                    assert time.monotonic() - back < 120, "both mails arrived in the mailbox"
                    await asyncio.sleep(0.2)
        finally:
            sender.terminate()
            sender.wait(30)
            nats.stop()
            await engine.dispose()
