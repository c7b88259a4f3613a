"""Out-of-office use-cases (A12): read an account's settings (defaults when none are set), replace
them. Who may: the account must be the caller's (admin, its user, a member of its group: the mail
accounts' own visibility, 404 otherwise), and changing needs the account's
`can_set_out_of_office` — for admins too: the switch is the admin's grant, turned on first."""

import uuid
from datetime import datetime

from mailbridge.common.db.out_of_office import OutOfOffice
from mailbridge.common.db.tables import MailAccount
from mailbridge.common.db.types import utcnow
from mailbridge.config_api import crud
from mailbridge.config_api.errors import FieldProblem, Forbidden
from mailbridge.config_api.mail_accounts.service import MailAccounts
from mailbridge.config_api.out_of_office.schemas import (
    DEFAULT_INTERVAL_DAYS,
    DEFAULT_SUBJECT,
    RULE,
    OutOfOfficeIn,
    OutOfOfficeOut,
)
from mailbridge.config_api.resource import Ctx
from mailbridge.config_api.store import commit, raise_problems

accounts = MailAccounts()


def problems(data: OutOfOfficeIn) -> list[FieldProblem | None]:
    """A12's rules across fields: a period ends after it starts; an enabled reply has a body."""
    return [
        FieldProblem("ends_at", RULE, "must be after starts_at")
        if data.starts_at is not None and data.ends_at is not None and data.ends_at <= data.starts_at
        else None,
        FieldProblem("body", RULE, "an enabled out-of-office needs a body")
        if data.enabled and not data.body.strip()
        else None,
    ]


def is_active(row: OutOfOffice, now: datetime) -> bool:
    """What the sender's rules call active (`auto_reply_rules.OutOfOffice.active`)."""
    started = row.starts_at is None or row.starts_at <= now
    return row.enabled and started and (row.ends_at is None or now < row.ends_at)


async def read(ctx: Ctx, account_id: uuid.UUID) -> OutOfOfficeOut:
    account = await crud.get_row(accounts, ctx, account_id)
    row = await ctx.session.get(OutOfOffice, account_id)
    return render(account, row)


async def save(ctx: Ctx, account_id: uuid.UUID, data: OutOfOfficeIn) -> OutOfOfficeOut:
    account = await crud.get_row(accounts, ctx, account_id)
    if not account.can_set_out_of_office:
        raise Forbidden(f"mail account {account_id} may not set an out-of-office (A12)")
    raise_problems(problems(data))
    row = await ctx.session.get(OutOfOffice, account_id)
    if row is None:
        row = OutOfOffice(account_id=account_id)
        ctx.session.add(row)
    for name, value in data.model_dump().items():
        setattr(row, name, value)
    await commit(ctx.session)  # two first PUTs at once: the second is a 409
    return render(account, row)


def render(account: MailAccount, row: OutOfOffice | None) -> OutOfOfficeOut:
    common = {"account_id": account.id, "may_set": account.can_set_out_of_office}
    if row is None:
        return OutOfOfficeOut(
            **common, enabled=False, subject=DEFAULT_SUBJECT, body="", starts_at=None, ends_at=None,
            reply_interval_days=DEFAULT_INTERVAL_DAYS, active=False, updated_at=None,
        )  # fmt: skip
    return OutOfOfficeOut(
        **common, enabled=row.enabled, subject=row.subject, body=row.body, starts_at=row.starts_at,
        ends_at=row.ends_at, reply_interval_days=row.reply_interval_days, active=is_active(row, utcnow()),
        updated_at=row.updated_at,
    )  # fmt: skip
