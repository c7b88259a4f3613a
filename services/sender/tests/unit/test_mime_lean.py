"""Large attachments spliced in as bytes (`base64_splice`) give the very bytes the email generator
writes (`build_message(..., lean_from=None)`, the reference), for every kind of mail."""

import random
import uuid
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from mailbridge.sender.base64_splice import BLOCK_LINES, LINE_INPUT, splice
from mailbridge.sender.mime import LEAN_FROM, build_message
from mailbridge.sender.outgoing import Attachment, OutgoingMail

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
MAIL = OutgoingMail(
    outbox_id=uuid.UUID("00000000-0000-4000-8000-000000000002"), from_address="jm@example.org",
    alias="Jürgen", reply_to=None, to=("bob@example.net",), subject="Anhänge", message_id_domain="example.org",
)  # fmt: skip
BLOCK = LINE_INPUT * BLOCK_LINES
EDGES = [0, 1, 2, 3, 56, 57, 58, 114, 57 * 40, 57 * 40 + 1, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK]
TYPES = [
    "application/pdf",
    "application/octet-stream",
    "image/png",
    "text/csv",
    "TEXT/Plain",
    "message/x-thing",
    "Multipart/x-thing",
]  # message/* and multipart/* are not spliced: the generator writes them as they are
NAMES = ["report.pdf", "Rechnung März.pdf", "данные.csv", "日本語 ファイル.txt", 'a b;c="d".bin', "x" * 90]


def both(mail: OutgoingMail, seed: int) -> tuple[bytes, bytes]:
    """The reference and the spliced build of every attachment, with the same MIME boundaries."""
    random.seed(seed)  # the generator draws each boundary from `random`
    reference = build_message(mail, NOW, lean_from=None).raw
    random.seed(seed)
    return reference, build_message(mail, NOW, lean_from=0).raw


def random_mail(rng: random.Random) -> OutgoingMail:
    text, html = rng.choice([("Hallo\n", None), (None, "<p>Grüße</p>"), ("Grüße\r\nx" * 50, "<p>hi</p>")])
    files = tuple(
        Attachment(
            rng.choice(NAMES), rng.choice(TYPES), rng.randbytes(rng.choice([*EDGES, rng.randint(0, 3000)]))
        )
        for _ in range(rng.randint(0, 3))
    )
    return replace(MAIL, text=text, html=html, attachments=files)


def test_spliced_attachments_are_byte_for_byte_the_generators() -> None:
    rng = random.Random(10)
    for seed in range(150):
        reference, spliced = both(random_mail(rng), seed)
        assert spliced == reference, seed


@pytest.mark.parametrize("tail", [b"", b"\n", b"\r\n", b"\r"])
def test_edges_of_lines_and_blocks_and_data_ending_in_a_line_break(tail: bytes) -> None:
    rng = random.Random(3)
    for size in EDGES:
        mail = replace(
            MAIL, text="x", attachments=(Attachment("f.bin", "application/x", rng.randbytes(size) + tail),)
        )
        reference, spliced = both(mail, size)
        assert spliced == reference, size


def test_attachments_of_a_few_megabytes_and_the_default_threshold() -> None:
    rng = random.Random(5)
    small, large = rng.randbytes(LEAN_FROM - 1), rng.randbytes(3 * 1024 * 1024 + 17)
    mail = replace(MAIL, text="x", html="<p>y</p>", attachments=(
        Attachment("klein.bin", "application/x", small), Attachment("groß.bin", "application/y", large),
    ))  # fmt: skip
    reference, spliced = both(mail, 1)
    assert spliced == reference
    random.seed(1)
    assert build_message(mail, NOW).raw == reference  # the default: only the large one spliced


def test_a_placeholder_that_is_missing_or_repeated_is_refused() -> None:
    with pytest.raises(ValueError, match="placeholder"):
        splice(b"head\r\nbody", {b"token": b"data"})
    with pytest.raises(ValueError, match="placeholder"):
        splice(b"token token", {b"token": b"data"})
