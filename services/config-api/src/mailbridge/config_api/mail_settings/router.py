"""HTTP routes for /settings/mail: everyone may read (the app needs G1, G3), admins change."""

from typing import Any

from fastapi import APIRouter, Response
from mailbridge.config_api.deps import AdminDep, IfMatch, PrincipalDep, SessionDep
from mailbridge.config_api.mail_settings.schemas import (
    MailSettingsIn,
    MailSettingsOut,
    MailSettingsPatch,
)
from mailbridge.config_api.mail_settings.service import load_settings
from mailbridge.config_api.problems import PROBLEM_RESPONSES
from mailbridge.config_api.store import apply, check_if_match, commit, etag

router = APIRouter(prefix="/settings/mail", tags=["mail settings"], responses=PROBLEM_RESPONSES)


@router.get("", operation_id="get_mail_settings")
async def get_mail_settings(session: SessionDep, _: PrincipalDep, response: Response) -> MailSettingsOut:
    row = await load_settings(session)
    response.headers["ETag"] = etag(row)
    return MailSettingsOut.model_validate(row, from_attributes=True)


@router.patch("", operation_id="update_mail_settings")
async def update_mail_settings(
    session: SessionDep,
    _: AdminDep,
    body: MailSettingsPatch,  # type: ignore[valid-type]
    response: Response,
    if_match: IfMatch = None,
) -> MailSettingsOut:
    row = await load_settings(session)
    check_if_match(row, if_match)
    current: dict[str, Any] = {name: getattr(row, name) for name in MailSettingsIn.model_fields}
    merged = MailSettingsIn.model_validate(current | body.model_dump(exclude_unset=True))  # type: ignore[attr-defined]
    apply(row, merged.model_dump())
    await commit(session)
    response.headers["ETag"] = etag(row)
    return MailSettingsOut.model_validate(row, from_attributes=True)
