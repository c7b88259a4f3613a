"""#16: FastStream's own lines ("FastStream app starting...") go through Mailbridge's log handler:
JSON like every other line (or text, per MAILBRIDGE_LOG_FORMAT), never its coloured banner."""

import json
import re
import subprocess
import sys

# What a service does: configure logging first, then build and run a FastStream app, whose app
# logger announces the start.
SCRIPT = """
import logging, sys
from mailbridge.common.logging import configure_logging
configure_logging("INFO", sys.argv[1])
from faststream import FastStream
from faststream.nats import NatsBroker
app = FastStream(NatsBroker())
app.logger.info("FastStream app starting...")
logging.getLogger("mailbridge.test").info("a line of our own")
"""
TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO (faststream|mailbridge\.test): ")


def _lines(fmt: str, level: str = "INFO") -> list[str]:
    script = SCRIPT.replace('"INFO"', repr(level))
    done = subprocess.run(
        [sys.executable, "-c", script, fmt], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout == ""
    return done.stderr.splitlines()


def test_every_line_is_json() -> None:
    entries = [json.loads(line) for line in _lines("json")]
    assert [(entry["logger"], entry["msg"]) for entry in entries] == [
        ("faststream", "FastStream app starting..."),
        ("mailbridge.test", "a line of our own"),
    ]


def test_text_lines_have_the_text_format_and_no_colour() -> None:
    lines = _lines("text")
    assert len(lines) == 2
    for line in lines:
        assert "\x1b" not in line
        assert TEXT_LINE.match(line), line


def test_the_banner_follows_the_configured_level() -> None:
    assert _lines("json", level="WARNING") == []
