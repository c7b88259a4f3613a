"""`current_message` names its misuse: outside a handler there is no message to take."""

import pytest
from faststream.nats import NatsBroker
from mailbridge.common.messaging import current_message


def test_outside_a_handler_there_is_no_current_message() -> None:
    with pytest.raises(RuntimeError, match="only meaningful inside a NATS message handler"):
        current_message(NatsBroker())
