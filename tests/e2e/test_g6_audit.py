"""G6 through `make run` against the real Postfix and Dovecot: with "lock after sending" on, the
sender seals what it sent (the Sent-folder mark still passes the database's triggers), its
checkpoints reach the audit stream, and `mailbridge outbox verify` agrees, while the system runs
and after it stopped (reading the data folder alone); deleting the newest sealed row in the
SQLite file, triggers dropped, is caught then."""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from e2e_system import RunningSystem, stack_account
from mailbridge.testkit.stack import MailStack
from oauth_e2e import until


def _verify(var_dir: Path) -> subprocess.CompletedProcess[str]:
    """`mailbridge outbox verify` as an operator runs it beside the system: the data folder only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBRIDGE_")}
    command = [sys.executable, "-m", "mailbridge.launcher.cli", "outbox", "verify"]
    return subprocess.run(
        command, env=env | {"MAILBRIDGE_VAR_DIR": str(var_dir)}, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip


def test_sealed_mail_verifies_running_and_stopped_and_a_deleted_row_is_caught(
    mail_system: RunningSystem, mail_stack: MailStack
) -> None:
    ann, bob = mail_stack.add_user(), mail_stack.add_user()
    headers = {"Authorization": f"Bearer {mail_system.admin_key()}"}
    with httpx.Client(base_url=f"{mail_system.base_url}/api/v1", headers=headers, timeout=10) as api:
        assert api.patch("/settings/mail", json={"lock_after_send": True}).status_code == 200
        account = stack_account(api, mail_stack, ann)
        ids = []
        for number in (1, 2):
            queued = api.post(f"/mail-accounts/{account['id']}/messages", json={
                "to": [bob.address], "subject": f"Sealed {number}", "text": "For the record",
            })  # fmt: skip
            assert queued.status_code == 202, queued.text
            ids.append(queued.json()["id"])
            row = until(
                lambda: (found := api.get(f"/outbox/{ids[-1]}").json())["status"] == "sent" and found, "sent"
            )
            assert row["locked"]
        # the checkpoint of the second mail's seal is in the audit stream once the relay ran
        report = until(
            lambda: (found := api.get("/outbox/verify").json())["checkpointed_seq"] == 2 and found,
            "the second checkpoint",
        )
        assert (report["intact"], report["sealed_rows"]) == (True, 2)
        assert api.patch(f"/outbox/{ids[0]}", json={"subject": "rewritten"}).status_code == 409

    running = _verify(mail_system.var_dir)
    assert (running.returncode, running.stdout.split(":")[0]) == (0, "outbox chain intact"), running.stderr
    mail_system.interrupt()
    stopped = _verify(mail_system.var_dir)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert "2 sealed rows" in stopped.stdout

    with sqlite3.connect(mail_system.var_dir / "mailbridge.db") as database:
        appended = database.execute("SELECT appended_to_sent_folder FROM outbox_messages").fetchall()
        assert appended == [(1,), (1,)], "the Sent-folder mark after the seal passes the triggers"
        with pytest.raises(sqlite3.IntegrityError, match="G6"):
            database.execute("DELETE FROM outbox_messages WHERE chain_seq = 2")
        database.execute("DROP TRIGGER outbox_locked_no_delete")  # as an attacker would
        database.execute("DELETE FROM outbox_messages WHERE chain_seq = 2")
    truncated = _verify(mail_system.var_dir)
    assert truncated.returncode == 1
    assert truncated.stdout.startswith(
        f"outbox chain BROKEN at position 2, row {ids[1]}: the chain ends at position 1 but a checkpoint "
        f"confirms position 2 (row {ids[1]})"
    ), truncated.stdout
