"""Time-ordered identifiers (UUID version 7, RFC 9562) so that id order is creation order.

Within one millisecond the 12-bit `rand_a` field is a counter (RFC 9562 §6.2, method 1), so ids
made by one process are strictly increasing; across processes they are ordered by millisecond.
"""

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_millis = 0
_counter = 0


def _next_stamp() -> tuple[int, int]:
    global _last_millis, _counter
    with _lock:
        millis = time.time_ns() // 1_000_000
        if millis > _last_millis:
            _last_millis, _counter = millis, int.from_bytes(os.urandom(2), "big") & 0x3FF
        else:
            _counter += 1
            if _counter > 0xFFF:  # counter exhausted: borrow the next millisecond
                _last_millis, _counter = _last_millis + 1, 0
        return _last_millis, _counter


def new_id() -> uuid.UUID:
    """Return a UUIDv7: 48 bits of Unix milliseconds, a 12-bit sequence, 62 random bits."""
    millis, sequence = _next_stamp()
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version 7
    value |= sequence << 64
    value |= 0x2 << 62  # RFC 9562 variant
    value |= int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    return uuid.UUID(int=value)
