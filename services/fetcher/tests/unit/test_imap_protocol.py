"""The framed protocol answers exactly as aioimaplib's own, whatever the network reads' sizes."""

import asyncio

import pytest
from aioimaplib import IMAP4ClientProtocol, Response
from mailbridge.fetcher.adapters.imap_protocol import FramedProtocol
from mailbridge.fetcher.imap_wire import parse_fetch

BODY = (
    b"From: a@example.org\r\nSubject: (tricky) {5}\r\n\r\nline one )\r\n* 3 FETCH (\r\nA1 OK not the end\r\n"
)
FETCH_ANSWER = (
    b"* 1 FETCH (UID 5 FLAGS (\\Seen) BODY[] {" + str(len(BODY)).encode() + b"}\r\n" + BODY + b")\r\n"
    b"* 2 FETCH (UID 6 FLAGS () BODY[] {3}\r\nabc MODSEQ (9))\r\n"
    b"* 3 FETCH (UID 7 MODSEQ (10) FLAGS (\\Answered \\Seen) BODY[] {12}\r\n(\r\n)\r\n{3}\r\nx)\r\n"
    b"* 4 EXISTS\r\n"
    b"TAG OK Fetch completed (0.001 + 0.000 secs).\r\n"
)  # fmt: skip


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))


async def answer(kind: type[IMAP4ClientProtocol], stream: bytes, chunk: int) -> Response:
    protocol = kind(asyncio.get_running_loop())
    transport = RecordingTransport()
    protocol.connection_made(transport)
    protocol.state = "SELECTED"
    pending = asyncio.ensure_future(protocol.fetch("5:7", "(UID FLAGS BODY.PEEK[])", by_uid=True, timeout=5))
    await asyncio.sleep(0)  # the command goes out in the task's first step
    tag = transport.written[0].split(b" ", 1)[0]
    stream = stream.replace(b"TAG ", tag + b" ")
    for start in range(0, len(stream), chunk):
        protocol.data_received(stream[start : start + chunk])
    return await asyncio.wait_for(pending, 5)


@pytest.mark.parametrize("chunk", [1, 5, 64, 1000, len(FETCH_ANSWER)])
async def test_fetch_answer_is_the_same_as_aioimaplibs(chunk: int) -> None:
    ours = await answer(FramedProtocol, FETCH_ANSWER, chunk)
    theirs = await answer(IMAP4ClientProtocol, FETCH_ANSWER, len(FETCH_ANSWER))
    assert ours == theirs
    assert [type(line) for line in ours.lines] == [type(line) for line in theirs.lines]
    items = parse_fetch(ours.lines)
    assert [(i.uid, i.body) for i in items] == [(5, BODY), (6, b"abc"), (7, b"(\r\n)\r\n{3}\r\nx")]


async def test_an_empty_message_is_an_empty_body_not_a_missing_one() -> None:
    stream = b"* 1 FETCH (UID 5 FLAGS () BODY[] {0}\r\n)\r\nTAG OK done\r\n"
    response = await answer(FramedProtocol, stream, 3)
    assert response.result == "OK"
    assert [(i.uid, i.body) for i in parse_fetch(response.lines)] == [(5, b"")]


async def test_a_many_message_answer_is_complete_in_small_reads() -> None:
    messages = [b"Subject: %d\r\n\r\n" % uid + b"x" * uid for uid in range(1, 301)]
    stream = b"".join(
        b"* %d FETCH (UID %d FLAGS () BODY[] {%d}\r\n" % (uid, uid, len(body)) + body + b")\r\n"
        for uid, body in enumerate(messages, start=1)
    ) + b"TAG OK done\r\n"  # fmt: skip
    response = await answer(FramedProtocol, stream, 4096)
    assert [i.body for i in parse_fetch(response.lines)] == messages
