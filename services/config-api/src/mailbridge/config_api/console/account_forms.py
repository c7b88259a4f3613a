"""The mail account form (A1–A12) as plain functions: the API's MailAccountIn fields in the
manual's order, its owner (A1: one user or one group, an object in the API) as one choice
`user:<id>` / `group:<id>`, and the account's health (O4, O5) in words."""

from collections.abc import Mapping, Sequence
from typing import Any

from mailbridge.config_api.console.forms import SELECT, FormField, body_of
from mailbridge.config_api.console.i18n import Translator

ACCOUNT_SCHEMA = "MailAccountIn"
OWNER = "owner"
OWNER_KINDS = ("user", "group")
# A1–A12 in the manual's order.
ACCOUNT_FIELDS = (
    "owner", "server_id", "login", "password", "business_unit_id", "address", "reply_to", "alias",
    "can_send", "send_bcc", "can_receive", "inbox_folder", "trash_folder", "spam_folder", "sync_folders",
    "can_set_out_of_office",
)  # fmt: skip
OUT_OF_OFFICE_SCHEMA = "OutOfOfficeIn"


def with_owner_choice(fields: Sequence[FormField]) -> list[FormField]:
    """The schema's `owner` object as a single required choice."""
    return [FormField(OWNER, SELECT, required=True) if f.name == OWNER else f for f in fields]


def owner_value(owner: Mapping[str, Any] | None) -> str:
    if not owner:
        return ""
    return f"{owner.get('type')}:{owner.get('id')}"


def owner_of(value: str) -> dict[str, str] | None:
    """`user:<id>` → the API's owner object; anything else → None (the API names the problem)."""
    kind, _, owner_id = value.partition(":")
    if kind in OWNER_KINDS and owner_id:
        return {"type": kind, "id": owner_id}
    return None


def owner_choices(
    t: Translator, users: Sequence[Mapping[str, Any]], groups: Sequence[Mapping[str, Any]]
) -> list[tuple[str, str]]:
    return [(f"user:{u['id']}", t("ui.owner_user", name=u.get("name") or u["id"])) for u in users] + [
        (f"group:{g['id']}", t("ui.owner_group", name=g.get("name") or g["id"])) for g in groups
    ]


def account_body(fields: Sequence[FormField], values: Mapping[str, Any], editing: bool) -> dict[str, Any]:
    """The JSON body of the account form: the generic fields, and the owner as the API's object."""
    body = body_of([f for f in fields if f.name != OWNER], values, editing)
    body[OWNER] = owner_of(str(values.get(OWNER) or ""))
    return body


def account_values(values: dict[str, Any], current: Mapping[str, Any] | None) -> dict[str, Any]:
    """Form values of an account the API returned: its owner as the choice's value."""
    values[OWNER] = owner_value(current.get(OWNER) if current else None)
    return values


def health_view(t: Translator, health: Mapping[str, Any] | None) -> dict[str, str]:
    """An account's `health` (state, reason, last fetch, last send) as short texts."""
    if not health:
        return {"state": "—", "state_code": "unknown", "reason": "", "fetch": "—", "send": "—", "since": ""}
    fetch, send = health.get("last_fetch") or {}, health.get("last_send") or {}
    state = str(health.get("state") or "unknown")
    return {
        "state": t.first(f"enum.HealthState.{state}", default=state),
        "state_code": state,
        "reason": str(health.get("reason") or ""),
        "fetch": _event(t, "fetch", fetch.get("status"), fetch.get("finished_at"), fetch.get("error")),
        "send": _event(t, "send", send.get("status"), send.get("at"), send.get("error")),
        "since": str(health.get("failing_since") or ""),
    }


def _event(t: Translator, kind: str, status: Any, at: Any, error: Any) -> str:
    status = str(status or "never")
    text = t.first(f"enum.last_{kind}.{status}", default=status)
    if at:
        text = f"{text}, {short_time(str(at))}"
    if error:
        text = f"{text}: {error}"
    return text


def short_time(iso: str | None) -> str:
    """An API timestamp to the minute, in UTC as the API gives it: 2026-05-04 09:12 UTC."""
    if not iso:
        return "—"
    date, _, rest = iso.partition("T")
    return f"{date} {rest[:5]} UTC" if rest else date
