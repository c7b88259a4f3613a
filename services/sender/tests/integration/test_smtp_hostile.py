"""The sender against hostile SMTP servers (#10): silent after the greeting or after DATA, a
reply line that never ends, garbage replies and a trickle each end within the timeout as a
temporary failure with a short printable reason; the pool drops the bad connection (the next
mail goes over a new one) and memory stays bounded."""

import os
import ssl
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from mailbridge.sender.adapters.smtp import SmtpPool
from mailbridge.sender.mime import build_message
from mailbridge.sender.model import Verdict
from mailbridge.sender.ports import Built
from mailbridge.testkit import hostile_smtp
from mailbridge.testkit.hostile import HostileServer, Script
from mailbridge.testkit.proc_stats import peak_rss_mb, reset_peak_rss
from sender_testing import outgoing, plain_target

TIMEOUT_S = 1.0
BOUND_S = 15.0  # generous: each failure comes after about one timeout


@pytest.fixture
async def pool() -> AsyncIterator[SmtpPool]:
    pooled = SmtpPool(ssl.create_default_context(), timeout_s=TIMEOUT_S, per_key=2, idle_s=30.0)
    yield pooled
    await pooled.close()


def built() -> Built:
    return build_message(outgoing("sender@example.org", ("rcpt@example.net",)), datetime.now(UTC))


HOSTILE: dict[str, tuple[Script, str]] = {  # the script, and what its reason says
    "silent after greeting": (hostile_smtp.silent_after_greeting, "timed out during the transaction"),
    "silent after DATA": (hostile_smtp.silent_after_data, "timed out during the transaction"),
    "endless reply line": (hostile_smtp.endless_reply_line, "not an SMTP reply during MAIL"),
    "endless multi-line reply": (hostile_smtp.endless_multi_line_reply, "not an SMTP reply during MAIL"),
    "garbage reply": (hostile_smtp.garbage_reply, "not an SMTP reply during MAIL"),
    "garbage code": (hostile_smtp.garbage_code, "not an SMTP reply during DATA: 999 what is this"),
    "trickled greeting": (hostile_smtp.trickled_greeting, "timed out during connect"),
    "trickled reply to DATA": (hostile_smtp.trickled_reply_to_data, "timed out during the transaction"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
async def test_a_hostile_server_is_a_temporary_failure_within_the_timeout_and_its_connection_dropped(
    pool: SmtpPool, case: str
) -> None:
    script, expected = HOSTILE[case]
    with HostileServer(hostile_smtp.first_connection_only(script, hostile_smtp.smtp())) as server:
        target = plain_target(server.port)
        reset_peak_rss(os.getpid())
        before = peak_rss_mb(os.getpid())
        started = time.monotonic()
        failed = await pool.send(target, built())
        elapsed = time.monotonic() - started
        assert peak_rss_mb(os.getpid()) - before < 100
        assert failed.outcome is Verdict.RETRY, failed.reply
        assert expected in failed.reply
        assert len(failed.reply) <= 300
        assert failed.reply.isprintable(), failed.reply
        assert elapsed < BOUND_S
        again = await pool.send(target, built())
        assert again.outcome is Verdict.DONE, again.reply
        assert len(server.conversations) == 2, "the bad connection was dropped, not reused"
