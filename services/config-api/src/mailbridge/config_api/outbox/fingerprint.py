"""The mail a request asks for, hashed, kept with its Idempotency-Key (#17).

The same key with the same mail returns the first mail; the same key with another mail is a
mistake to report (422), not a mail to drop in silence, as payment APIs answer a reused key. "The
same mail" is what the request means, not its bytes: JSON and multipart/form-data carrying the same
fields and attachments (name, media type, bytes) are the same; so are key order and spelling.
"""

import hashlib
import json

from mailbridge.config_api.outbox.schemas import MailDraft, MailFields


def request_sha256(draft: MailDraft) -> str:
    """SHA-256 of the mail's fields (every one, defaults included; JSON's base64 attachments are
    not fields) and its attachments in order, as stored."""
    canonical = {
        "fields": draft.fields.model_dump(mode="json", include=set(MailFields.model_fields)),
        "attachments": [
            [a.filename, a.content_type, hashlib.sha256(a.data).hexdigest()] for a in draft.attachments
        ],
    }
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()
