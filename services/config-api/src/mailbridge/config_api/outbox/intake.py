"""The two forms of POST /mail-accounts/{id}/messages, read into one MailDraft.

- `application/json` (also when no Content-Type is given): SendRequestIn, attachments in base64.
- `multipart/form-data`: one part `message` holding the same JSON object without `attachments`
  (MailFields), and zero or more file parts `attachments`, each bringing its filename and media
  type (none given: application/octet-stream). A browser's empty file input (no filename, no
  bytes) is skipped.

The limit (`outbox_max_bytes`) is enforced while the body is read: past what a mail within it
can take, reading stops and the answer is the same 422 (`attachments`, rule `size`) an oversized
mail always got. What a mail can take is the limit itself for file parts, a third more for base64
in JSON, plus ENVELOPE_ROOM for recipients, subject, part headers and boundaries; so no upload is
held beyond that. The exact rule (attachments + text + html) is the service's, after parsing.
"""

import base64
from collections.abc import AsyncGenerator
from typing import Any

from fastapi import Request
from mailbridge.config_api.errors import FieldProblem, UnsupportedMediaType, ValidationFailed, invalid
from mailbridge.config_api.openapi import schema_ref
from mailbridge.config_api.outbox.schemas import (
    MAX_ATTACHMENTS,
    OCTET_STREAM,
    Attachment,
    MailDraft,
    MailFields,
    SendRequestIn,
)
from mailbridge.config_api.outbox.service import too_large
from mailbridge.config_api.problems import field_problems
from mailbridge.config_api.schemas import examples_of
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

ENVELOPE_ROOM = 1024 * 1024
_FORM_PARTS = ("message", "attachments")


async def read_draft(request: Request, max_bytes: int) -> MailDraft:
    """The mail in the request, whichever form it came in; 415 for any other media type."""
    content_type = request.headers.get("content-type") or "application/json"
    media_type = content_type.partition(";")[0].strip().lower()
    if media_type == "application/json" or media_type.endswith("+json"):
        return await _json_draft(request, max_bytes)
    if media_type == "multipart/form-data":
        return await _form_draft(request, max_bytes)
    raise UnsupportedMediaType(f"{media_type!r}: send application/json or multipart/form-data")


async def _limited(request: Request, cap: int, max_bytes: int) -> AsyncGenerator[bytes]:
    """The body, refused as soon as it is longer than `cap` (at once when Content-Length says so)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise too_large(max_bytes)
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > cap:
            raise too_large(max_bytes)
        yield chunk


async def _json_draft(request: Request, max_bytes: int) -> MailDraft:
    cap = max_bytes * 4 // 3 + ENVELOPE_ROOM
    body = b"".join([chunk async for chunk in _limited(request, cap, max_bytes)])
    mail = SendRequestIn.model_validate_json(body)  # a ValidationError is a 422 like any other
    files = [
        Attachment(filename=a.filename, content_type=a.content_type, data=base64.b64decode(a.content_base64))
        for a in mail.attachments
    ]
    return MailDraft(mail, files)


async def _form_draft(request: Request, max_bytes: int) -> MailDraft:
    cap = max_bytes + ENVELOPE_ROOM
    parser = MultiPartParser(
        request.headers, _limited(request, cap, max_bytes),
        max_files=MAX_ATTACHMENTS + 1, max_fields=len(_FORM_PARTS) + 8, max_part_size=cap,
    )  # fmt: skip
    try:
        form = await parser.parse()
    except MultiPartException as error:
        raise invalid("body", "multipart", error.message) from None
    try:
        return await _draft_of(form)
    finally:
        await form.close()


async def _draft_of(form: FormData) -> MailDraft:
    """Every offending part is named in one 422, as the JSON body's fields are."""
    problems = [
        FieldProblem(name, "extra_forbidden", "unknown form part: send `message` and `attachments`")
        for name in dict.fromkeys(form.keys())
        if name not in _FORM_PARTS
    ]
    messages = form.getlist("message")
    fields = None
    if len(messages) != 1:
        rule = "missing" if not messages else "duplicate"
        problems.append(FieldProblem("message", rule, "one `message` part holds the mail as JSON"))
    else:
        try:
            fields = MailFields.model_validate_json(await _content(messages[0]))
        except ValidationError as error:
            problems += field_problems(error.errors(), root="message")
    attachments: list[Attachment] = []
    for index, part in enumerate(form.getlist("attachments")):
        if isinstance(part, str):
            problems.append(FieldProblem(f"attachments.{index}", "file", "an attachment is a file part"))
        elif part.filename or part.size:
            try:
                attachments.append(Attachment.model_validate(await _attachment(part)))
            except ValidationError as error:
                located = [{**e, "loc": ("attachments", index, *e["loc"])} for e in error.errors()]
                problems += field_problems(located)
    if len(attachments) > MAX_ATTACHMENTS:
        problems.append(FieldProblem("attachments", "too_long", f"at most {MAX_ATTACHMENTS} attachments"))
    if problems or fields is None:
        raise ValidationFailed(problems)
    return MailDraft(fields, attachments)


async def _content(part: str | UploadFile) -> str | bytes:
    return part if isinstance(part, str) else await part.read()


async def _attachment(part: UploadFile) -> dict[str, Any]:
    media_type = (part.content_type or "").partition(";")[0].strip()
    return {"filename": part.filename, "content_type": media_type or OCTET_STREAM, "data": await part.read()}


BODY_MODELS = (SendRequestIn, MailFields)
OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": (
            "The mail as JSON, attachments in base64; or as multipart/form-data: a part `message` "
            "with the same JSON object without `attachments`, and one file part `attachments` per "
            "attachment (its filename and Content-Type are used; none: application/octet-stream). "
            "Attachments, text and html together may be at most the configured size "
            "(outbox_max_bytes, 25 MiB by default); larger mail is refused while it is read "
            "(422, field `attachments`, rule `size`)."
        ),
        "content": {
            "application/json": {"schema": schema_ref(SendRequestIn)},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["message"],
                    "additionalProperties": False,
                    "examples": [{"message": examples_of(MailFields)[0]}],
                    "properties": {
                        "message": schema_ref(MailFields),
                        "attachments": {
                            "type": "array",
                            "maxItems": MAX_ATTACHMENTS,
                            "items": {"type": "string", "format": "binary"},
                        },
                    },
                },
                "encoding": {"message": {"contentType": "application/json"}},
            },
        },
    }
}
