"""POP3 through the whole fetch against the real Dovecot: a message above the maximum size is
skipped with its reason and never deleted (S11), and a login or password with CR/LF fails the
fetch with a reason naming the field before anything is sent (#10 items 3 and 4)."""

from dataclasses import replace

import pytest
from fetcher_testing import FetchWorld, message, on_server
from mailbridge.common.db.mailstore import FetchState
from mailbridge.common.db.tables import MailAccount
from mailbridge.fetcher.fetch_account import Outcome
from mailbridge.testkit.users import MailUser
from sqlalchemy import select


async def test_a_message_above_the_maximum_is_skipped_and_never_deleted(
    world: FetchWorld, mail_user: MailUser
) -> None:
    big = message(1, mail_user.address, body="x" * 200_000)
    world.stack.seed(mail_user.address, [message(0, mail_user.address), big, message(2, mail_user.address)])
    world.deps = replace(
        world.deps, holder="test-holder", limits=replace(world.deps.limits, max_message_bytes=100_000)
    )
    account = await world.account(mail_user, protocol="pop3", delete_after_fetch=True)
    result = await world.fetch(account)
    assert (result.outcome, result.reason) == (Outcome.DONE, None)
    assert result.counts is not None
    assert (result.counts.new, result.counts.deleted_on_server) == (2, 2)
    [skipped] = result.counts.skipped
    assert skipped["size"] > 100_000
    assert skipped["reason"] == "larger than the maximum message size of 100000 bytes"
    assert on_server(world, mail_user) == 1, "the skipped message stays on the server"
    assert all(len(m.raw) < 100_000 for m in await world.stored(account))
    again = await world.fetch(account)
    assert again.counts is not None
    assert (again.counts.new, len(again.counts.skipped), on_server(world, mail_user)) == (0, 1, 1)


@pytest.mark.parametrize("field", ["login", "password"])
async def test_cr_lf_in_login_or_password_fails_naming_the_field_and_deletes_nothing(
    world: FetchWorld, mail_user: MailUser, field: str
) -> None:
    world.stack.seed(mail_user.address, [message(i, mail_user.address) for i in range(2)])
    injected = {"login": f"{mail_user.address}\r\nDELE 1", "password": f"{mail_user.password}\r\nDELE 1"}
    account = await world.account(mail_user, protocol="pop3", delete_after_fetch=True)
    async with world.sessions() as session:
        row = await session.get(MailAccount, account)
        assert row is not None
        if field == "login":
            row.login = injected["login"]
        else:
            row.password_encrypted = world.secrets.encrypt(injected["password"])
        await session.commit()
    result = await world.fetch(account)
    assert result.outcome is Outcome.DONE, "permanent: recorded, not retried"
    assert result.reason is not None
    assert f"the account's {field} contains a control character (\\r)" in result.reason
    assert on_server(world, mail_user) == 2
    async with world.sessions() as session:
        state = await session.scalar(select(FetchState).where(FetchState.account_id == account))
    assert state is not None
    assert (state.status, state.reason) == ("failed", result.reason)
