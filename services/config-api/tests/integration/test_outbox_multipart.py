"""POST /mail-accounts/{id}/messages as multipart/form-data: a `message` part with the mail as
JSON and `attachments` file parts. Same rules as the JSON form (A8, user-key scope,
Idempotency-Key, 422 per field, the size limit), and the attachments are stored byte-exact."""

import base64
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from config_api_testing import MAIL, Api, outbox_world, rules
from mailbridge.common.db.outbox import OutboxAttachment, OutboxMessage
from sqlalchemy import func, select

# Every byte value, NUL runs, bare CR and LF, CRLF, something like a boundary, a trailing CRLF.
BINARY = (
    bytes(range(256))
    + b"\x00\x00\r\n\r\n--not-the-boundary\r\n\rline\n\x00"
    + bytes(range(255, -1, -1))
    + b"\r\n"
)
BOUNDARY = "mailbridge-test-7f3a"
FORM = f"multipart/form-data; boundary={BOUNDARY}"
MiB = 1024 * 1024


def _part(name: str, data: bytes, filename: str | None = None, content_type: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
    headers = f"Content-Disposition: {disposition}\r\n" + (
        f"Content-Type: {content_type}\r\n" if content_type else ""
    )
    return f"--{BOUNDARY}\r\n{headers}\r\n".encode() + data + b"\r\n"


def _form(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


async def _stored(api: Api, outbox_id: str | None = None) -> list[tuple[str, str, bytes]]:
    """(filename, content type, bytes) of the stored attachments, in upload order."""
    statement = select(OutboxAttachment).order_by(OutboxAttachment.id)
    if outbox_id is not None:
        statement = statement.where(OutboxAttachment.outbox_id == uuid.UUID(outbox_id))
    async with api.running.sessions() as session:
        return [(a.filename, a.content_type, a.data) for a in await session.scalars(statement)]


async def _row_count(api: Api) -> int:
    async with api.running.sessions() as session:
        return await session.scalar(select(func.count()).select_from(OutboxMessage)) or 0


async def test_multipart_without_files_queues_what_json_queues(api: Api) -> None:
    world = await outbox_world(api)
    path = f"/mail-accounts/{world['mine']['id']}/messages"
    mail = MAIL | {"cc": ["c@example.org"], "html": "<p>Hi</p>"}
    form = await world["ann"].post_form(path, mail)
    assert form.status_code == 202, form.text
    assert (form.json()["status"], form.headers["ETag"]) == ("queued", '"1"')
    as_json = (await world["ann"].post(path, mail)).json()
    assert form.json()["request"] == as_json["request"]
    assert form.json()["requested_by_user_id"] == as_json["requested_by_user_id"]
    assert await _stored(api) == []


async def test_message_may_come_as_a_json_file(api: Api) -> None:
    """What `curl -F message=@mail.json -F attachments=@a.txt` sends."""
    world = await outbox_world(api)
    body = _form(
        _part(
            "message", b'{"to": ["x@example.org"], "subject": "from a file"}', "mail.json", "application/json"
        ),
        _part("attachments", b"a\r\n", "a.txt", "text/plain"),
    )
    queued = await world["ann"].post_bytes(f"/mail-accounts/{world['mine']['id']}/messages", body, FORM)
    assert queued.status_code == 202, queued.text
    assert queued.json()["request"]["subject"] == "from a file"
    assert await _stored(api, queued.json()["id"]) == [("a.txt", "text/plain", b"a\r\n")]


async def test_multipart_one_file_is_stored_byte_exact(api: Api) -> None:
    world = await outbox_world(api)
    path = f"/mail-accounts/{world['mine']['id']}/messages"
    queued = await world["ann"].post_form(path, MAIL, [("Bericht März.bin", BINARY, "application/x-report")])
    assert queued.status_code == 202, queued.text
    assert await _stored(api, queued.json()["id"]) == [("Bericht März.bin", "application/x-report", BINARY)]


async def test_multipart_several_files_keep_order_names_and_types(api: Api) -> None:
    world = await outbox_world(api)
    path = f"/mail-accounts/{world['mine']['id']}/messages"
    body = _form(
        _part("message", b'{"to": ["x@example.org"], "subject": "three"}'),
        _part("attachments", b"plain\r\n", "a.txt", "text/plain; charset=utf-8"),
        _part("attachments", BINARY, "no-type.dat"),
        _part("attachments", b"", "empty.txt", "text/plain"),
        _part("attachments", b"", ""),  # a browser's file input left empty: no attachment
        _part("attachments", b"%PDF-1.7\r\n" + BINARY, "c.pdf", "application/pdf"),
    )
    queued = await world["ann"].post_bytes(path, body, FORM)
    assert queued.status_code == 202, queued.text
    assert await _stored(api, queued.json()["id"]) == [
        ("a.txt", "text/plain", b"plain\r\n"),
        ("no-type.dat", "application/octet-stream", BINARY),
        ("empty.txt", "text/plain", b""),
        ("c.pdf", "application/pdf", b"%PDF-1.7\r\n" + BINARY),
    ]


async def test_both_forms_store_the_same_attachment(api: Api) -> None:
    world = await outbox_world(api)
    path = f"/mail-accounts/{world['mine']['id']}/messages"
    attachment = {
        "filename": "b.bin",
        "content_type": "image/png",
        "content_base64": base64.b64encode(BINARY).decode(),
    }
    as_json = await world["ann"].post(path, MAIL | {"attachments": [attachment]})
    as_form = await world["ann"].post_form(path, MAIL, [("b.bin", BINARY, "image/png")])
    assert as_json.json()["request"] == as_form.json()["request"]
    assert await _stored(api, as_json.json()["id"]) == await _stored(api, as_form.json()["id"])


@contextmanager
def _limit(api: Api, max_bytes: int) -> Iterator[None]:
    """The app configured with another outbox_max_bytes for a while."""
    state = api.running.app.state
    configured = state.outbox_max_bytes
    state.outbox_max_bytes = max_bytes
    try:
        yield
    finally:
        state.outbox_max_bytes = configured


async def test_size_limit_is_the_same_for_both_forms(api: Api) -> None:
    """outbox_max_bytes counts attachments, text and html: at the limit queued, one byte over 422."""
    world = await outbox_world(api)
    path = f"/mail-accounts/{world['mine']['id']}/messages"
    text = MAIL | {"text": "x" * 96}
    for size, status in ((4000, 202), (4001, 422)):
        data = b"\x00" * size
        attachment = {"filename": "f.bin", "content_base64": base64.b64encode(data).decode()}
        with _limit(api, 4096):
            as_form = await world["ann"].post_form(path, text, [("f.bin", data, "application/octet-stream")])
            as_json = await world["ann"].post(path, text | {"attachments": [attachment]})
        assert (as_form.status_code, as_json.status_code) == (status, status), as_form.text
    assert rules(as_form) == rules(as_json) == {"attachments": "size"}
    assert await _row_count(api) == 2
    assert len(await _stored(api)) == 2


async def test_oversized_upload_is_refused_while_reading_and_nothing_is_stored(api: Api) -> None:
    """Default limit (25 MiB): a streamed upload without Content-Length stops being read just past
    it; one whose Content-Length is too large is not read at all."""
    world = await outbox_world(api)
    path = f"/mail-accounts/{world['mine']['id']}/messages"
    pulled = 0

    async def endless_upload() -> AsyncIterator[bytes]:
        nonlocal pulled
        yield _part("message", b'{"to": ["x@example.org"]}')[:-2] + b"\r\n"
        yield f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="attachments"; filename="big"\r\n\r\n'.encode()
        for _ in range(64):
            pulled += 1
            yield b"\xff" * MiB

    refused = await world["ann"].post_bytes(path, endless_upload(), FORM)
    assert rules(refused) == {"attachments": "size"}
    assert 25 <= pulled <= 27, pulled
    declared = await world["ann"].post_bytes(path, b"", FORM, {"Content-Length": str(64 * MiB)})
    assert rules(declared) == {"attachments": "size"}
    assert (await _row_count(api), await _stored(api)) == (0, [])


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ((_part("message", b'{"to": ["x@example.org"'),), {"message": "json_invalid"}),
        ((_part("message", b'["x@example.org"]'),), {"message": "model_type"}),
        ((_part("message", b'{"to": ["ok@example.org", "broken"]}'),), {"to.1": "address"}),
        ((_part("message", b'{"subject": "nobody"}'),), {"to": "recipients"}),
        ((_part("attachments", b"data", "a.txt"),), {"message": "missing"}),
        ((_part("message", b"{}"), _part("message", b"{}")), {"message": "duplicate"}),
        (
            (_part("message", b'{"to": ["x@example.org"], "attachments": []}'),),
            {"attachments": "extra_forbidden"},
        ),
        (
            (_part("message", b'{"to": ["x@example.org"]}'), _part("attachment", b"x", "a.txt")),
            {"attachment": "extra_forbidden"},
        ),
        (
            (_part("message", b'{"to": ["x@example.org"]}'), _part("attachments", b"not a file")),
            {"attachments.0": "file"},
        ),
        (
            (
                _part("message", b'{"to": ["x@example.org"]}'),
                _part("attachments", b"x", "ok.txt"),
                _part("attachments", b"x", "bad\x01name.txt", "text/plain"),
                _part("attachments", b"x", "c.txt", "not a type"),
            ),
            {
                "attachments.1.filename": "string_pattern_mismatch",
                "attachments.2.content_type": "string_pattern_mismatch",
            },
        ),
        (
            (
                _part("message", b'{"to": ["broken"], "subject": "a\\r\\nBcc: y@z.org"}'),
                _part("attachments", b"", ""),
            ),
            {"to.0": "address", "subject": "string_pattern_mismatch"},
        ),
    ],
)
async def test_bad_forms_name_each_offending_field(
    api: Api, parts: tuple[bytes, ...], expected: dict[str, str]
) -> None:
    world = await outbox_world(api)
    response = await world["ann"].post_bytes(
        f"/mail-accounts/{world['mine']['id']}/messages", _form(*parts), FORM
    )
    assert rules(response) == expected
    assert await _row_count(api) == 0


async def test_broken_framing_and_unknown_media_types(api: Api) -> None:
    world = await outbox_world(api)
    path = f"/mail-accounts/{world['mine']['id']}/messages"
    no_boundary = await world["ann"].post_bytes(path, _form(_part("message", b"{}")), "multipart/form-data")
    assert rules(no_boundary) == {"body": "multipart"}
    for media_type in ("text/plain", "application/x-www-form-urlencoded", "application/xml"):
        response = await world["ann"].post_bytes(path, b"to=x@example.org", media_type)
        assert response.status_code == 415, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == 415
    assert await _row_count(api) == 0


async def test_idempotency_key_with_multipart_returns_the_same_row(api: Api) -> None:
    world = await outbox_world(api)
    path = f"/mail-accounts/{world['mine']['id']}/messages"
    files = [("a.bin", BINARY, "application/octet-stream")]
    first = await world["ann"].post_form(path, MAIL, files, {"Idempotency-Key": "m-1"})
    again = await world["ann"].post_form(path, MAIL, files, {"Idempotency-Key": "m-1"})
    attachment = {"filename": "a.bin", "content_type": "application/octet-stream",
                  "content_base64": base64.b64encode(BINARY).decode()}  # fmt: skip
    as_json = await world["ann"].post(path, MAIL | {"attachments": [attachment]}, {"Idempotency-Key": "m-1"})
    assert first.status_code == again.status_code == as_json.status_code == 202
    assert first.json() == again.json() == as_json.json(), "the same mail in either form (#17)"
    twice = await world["ann"].post_form(path, MAIL, files * 2, {"Idempotency-Key": "m-1"})
    assert rules(twice) == {"Idempotency-Key": "idempotency_key_reused"}, "another mail under the key"
    other = await world["ann"].post_form(path, MAIL, files, {"Idempotency-Key": "m-2"})
    assert other.json()["id"] != first.json()["id"]
    assert (await _row_count(api), len(await _stored(api))) == (2, 2)


async def test_a8_and_user_key_scope_refuse_before_the_upload_is_read(api: Api) -> None:
    world = await outbox_world(api)
    pulled = 0

    async def upload() -> AsyncIterator[bytes]:
        nonlocal pulled
        pulled += 1
        yield _form(_part("message", b'{"to": ["x@example.org"]}'), _part("attachments", BINARY, "a.bin"))

    async def send(key: Api, account: dict[str, Any]) -> int:
        response = await key.post_bytes(f"/mail-accounts/{account['id']}/messages", upload(), FORM)
        return response.status_code

    assert await send(world["ann"], world["bobs"]) == 404, "another user's account is not visible"
    await api.patch(f"/mail-accounts/{world['mine']['id']}", {"can_send": False})
    assert await send(world["ann"], world["mine"]) == 403, "A8: the account may not send"
    assert await send(api, world["mine"]) == 403, "A8 holds for the admin key too"
    assert pulled == 0
    assert await send(world["bob"], world["shared"]) == 202, "a group member sends from the group's account"
    assert pulled == 1
    assert await _row_count(api) == 1
