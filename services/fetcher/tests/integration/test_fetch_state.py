"""The recorded outcome of an account's last fetch (GET …/fetch-state): a success records its
counts, a failure records its reason and leaves the last counts alone, the next success clears
the failure."""

import uuid

from fetcher_testing import FetchWorld, message
from mailbridge.common.db.mailstore import FetchState
from mailbridge.common.db.tables import MailAccount
from mailbridge.testkit.users import MailUser


async def state(world: FetchWorld, account: uuid.UUID) -> FetchState:
    async with world.sessions() as session:
        found = await session.get(FetchState, account)
    assert found is not None
    return found


async def set_password(world: FetchWorld, account: uuid.UUID, password: str) -> None:
    async with world.sessions() as session:
        row = await session.get(MailAccount, account)
        assert row is not None
        row.password_encrypted, row.version = world.secrets.encrypt(password), row.version + 1
        await session.commit()


async def test_outcomes_overwrite_each_other_but_a_failure_keeps_the_counts(
    world: FetchWorld, mail_user: MailUser
) -> None:
    world.stack.seed(mail_user.address, [message(i, mail_user.address) for i in range(3)])
    account = await world.account(mail_user)
    await world.fetch(account)
    first = await state(world, account)
    assert (first.status, first.new_messages, first.counts["on_server"]) == ("ok", 3, {"INBOX": 3})

    await set_password(world, account, "wrong")
    await world.fetch(account)
    failed = await state(world, account)
    assert (failed.status, failed.permanent) == ("failed", True)
    assert failed.reason is not None
    assert "rejected" in failed.reason
    assert failed.config_version != first.config_version
    assert (failed.new_messages, failed.counts) == (3, first.counts), "a failure keeps the last counts"

    await set_password(world, account, mail_user.password)
    world.stack.seed(mail_user.address, [message(3, mail_user.address)])
    await world.fetch(account)
    again = await state(world, account)
    assert (again.status, again.reason, again.permanent, again.new_messages) == ("ok", None, False, 1)
    assert again.last_started_at is not None
    assert again.last_finished_at is not None
    assert again.last_started_at <= again.last_finished_at
