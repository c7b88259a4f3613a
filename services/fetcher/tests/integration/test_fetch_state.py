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


async def test_failing_since_is_the_first_failure_in_a_row_and_a_success_clears_it(
    world: FetchWorld, mail_user: MailUser
) -> None:
    """#15: `failing_since` is set when fetching turns failing, kept while it keeps failing (a
    later failure moves `last_finished_at` on, not it), cleared by the next success."""
    account = await world.account(mail_user)
    await world.fetch(account)
    assert (await state(world, account)).failing_since is None

    await set_password(world, account, "wrong")
    await world.fetch(account)
    first = await state(world, account)
    assert first.status == "failed"
    assert first.failing_since is not None
    assert first.failing_since == first.last_finished_at

    await world.fetch(account)  # a manual fetch is tried again, and fails again
    second = await state(world, account)
    assert second.status == "failed"
    assert second.last_finished_at is not None
    assert second.last_finished_at > first.last_finished_at
    assert second.failing_since == first.failing_since, "still failing since the first failure"

    await set_password(world, account, mail_user.password)
    await world.fetch(account)
    fixed = await state(world, account)
    assert (fixed.status, fixed.failing_since) == ("ok", None)

    await set_password(world, account, "wrong again")
    await world.fetch(account)
    again = await state(world, account)
    assert again.failing_since == again.last_finished_at, "a new run of failures starts afresh"
