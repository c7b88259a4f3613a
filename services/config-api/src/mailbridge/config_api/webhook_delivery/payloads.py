"""The body of a webhook (#18): the event's own fields (for mail, the headers summary) and links to
the read API; the message itself only for an endpoint that asked for it (`include_body`). Events
carry no secrets, so neither do the bodies."""

import base64
import json
from typing import Any

from mailbridge.common.events import Message

_LINKS = {  # a field of the event → the read API path it names
    "message_id": ("message", "/messages/{}"),
    "outbox_id": ("outbox", "/outbox/{}"),
    "account_id": ("account", "/mail-accounts/{}"),
}


def links(event: Message, api_base: str) -> dict[str, str]:
    found = {}
    for field, (name, path) in _LINKS.items():
        value = getattr(event, field, None)
        if value is not None:
            found[name] = api_base + path.format(value)
    if "message" in found:
        found["raw"] = found["message"] + "/raw"
    return found


def payload(name: str, event: Message, api_base: str, raw: bytes | None = None) -> str:
    """`{"type", "timestamp", "event_id", "data", "links"}` as compact JSON."""
    data: dict[str, Any] = event.model_dump(mode="json", exclude={"event_id", "occurred_at"})
    if raw is not None:
        data["raw_base64"] = base64.b64encode(raw).decode()
    body = {
        "type": name,
        "timestamp": event.occurred_at.isoformat(),
        "event_id": str(event.event_id),
        "data": data,
        "links": links(event, api_base),
    }
    return json.dumps(body, separators=(",", ":"))
