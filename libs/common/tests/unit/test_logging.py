"""JSON logging: one object per line, extra fields on top, no terminal colour codes."""

import json
import logging

from mailbridge.common.logging import JsonFormatter


def test_json_line_with_extras() -> None:
    record = logging.makeLogRecord(
        {"name": "mailbridge.test", "levelname": "INFO", "msg": "fetched %d", "args": (3,),
         "account_id": "a1", "color_message": "\x1b[36mfetched\x1b[0m"}
    )  # fmt: skip
    entry = json.loads(JsonFormatter().format(record))
    assert entry["msg"] == "fetched 3"
    assert entry["account_id"] == "a1"
    assert entry["level"] == "info"
    assert "color_message" not in entry
