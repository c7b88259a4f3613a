"""#15 Operations: mailbridge_messages_stored_bytes_total counts the bytes of fetched messages once,
when the store commits them: a real IMAP fetch from the harness's Dovecot adds the stored messages'
sizes, a second fetch of the unchanged mailbox adds nothing, and a batch a fenced-off (stalled)
holder tried to store adds nothing either."""

from datetime import timedelta

import pytest
from fetcher_testing import FetchWorld, message
from mailbridge.fetcher.fetch_account import Outcome
from mailbridge.fetcher.model import LeaseLost, NewMessage
from mailbridge.testkit.users import MailUser
from prometheus_client import REGISTRY

NAME = "mailbridge_messages_stored_bytes_total"


def stored_bytes() -> float:
    return REGISTRY.get_sample_value(NAME) or 0.0


async def test_bytes_of_committed_messages_are_counted_once(world: FetchWorld, mail_user: MailUser) -> None:
    world.stack.seed(mail_user.address, [message(i, mail_user.address, "x" * 100 * i) for i in range(5)])
    account = await world.account(mail_user)
    before = stored_bytes()
    assert (await world.fetch(account)).outcome is Outcome.DONE
    stored = await world.stored(account)
    assert len(stored) == 5
    assert stored_bytes() - before == sum(len(row.raw) for row in stored) == sum(row.size for row in stored)
    again = stored_bytes()
    assert (await world.fetch(account)).outcome is Outcome.DONE
    assert stored_bytes() == again, "nothing new on the server: no bytes"


async def test_a_batch_that_is_not_committed_counts_no_bytes(world: FetchWorld, mail_user: MailUser) -> None:
    account_id = await world.account(mail_user)
    store = world.deps.store
    account = await store.load_account(account_id)
    assert account is not None
    stalled = await store.acquire_lease(account_id, "replica-a", timedelta(seconds=30))
    assert stalled is not None
    await store.release_lease(stalled)
    taker = await store.acquire_lease(account_id, "replica-b", timedelta(seconds=30))
    assert taker is not None
    raw = message(1, mail_user.address)
    before = stored_bytes()
    with pytest.raises(LeaseLost):
        await store.store_batch(stalled, timedelta(seconds=30), account, [NewMessage("INBOX", raw, (), 1, 1)])
    assert stored_bytes() == before
    assert (
        await store.store_batch(taker, timedelta(seconds=30), account, [NewMessage("INBOX", raw, (), 1, 1)])
        == 1
    )
    assert stored_bytes() - before == len(raw)
