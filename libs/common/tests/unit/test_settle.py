"""`work_queue.settle` says to JetStream what each `Settle` means (what goes on the wire to the
message's reply subject), and `consumers` declares each work queue's durable once."""

import pytest
from mailbridge.common.consumers import ALL_QUEUES, CHANGES_QUEUE, EGRESS_SEND_QUEUE, FETCH_QUEUE, SEND_QUEUE
from mailbridge.common.streams import EVENTS, FETCH, SEND
from mailbridge.common.work_queue import Settle, settle
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, DeliverPolicy

REPLY = "$JS.ACK.MAILBRIDGE_FETCH.fetcher.1.7.7.1700000000000000000.0"


class Wire:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    async def publish(self, subject: str, payload: bytes = b"") -> None:
        self.sent.append((subject, payload))


@pytest.mark.parametrize(
    ("how", "delay_s", "payload"),
    [
        (Settle.ACK, 0.0, b""),  # an empty reply is an ack
        (Settle.RETRY, 0.0, b"-NAK"),
        (Settle.RETRY, 15.0, b'-NAK {"delay": 15000000000}'),
        (Settle.TERM, 0.0, b"+TERM"),
    ],
)
async def test_each_settle_is_one_reply(how: Settle, delay_s: float, payload: bytes) -> None:
    wire = Wire()
    await settle(Msg(_client=wire, reply=REPLY), how, delay_s)  # type: ignore[arg-type]
    assert wire.sent == [(REPLY, payload)]


def test_each_work_queue_has_its_own_durable_on_its_commands_stream() -> None:
    assert [(q.durable, q.stream) for q in ALL_QUEUES] == [
        ("fetcher", FETCH), ("fetcher-changes", FETCH), ("sender", SEND), ("sender-egress", SEND),
        ("sender-auto-replies", EVENTS), ("config-api-webhooks", EVENTS),
    ]  # fmt: skip


def test_a_durable_takes_the_services_settings_over_the_declared_ones() -> None:
    declared, overridden = FETCH_QUEUE.config(), FETCH_QUEUE.config(ack_wait_s=30.0, max_deliver=5)
    assert (declared.ack_wait, declared.max_deliver) == (35.0, 20)  # the default lease and 5 s
    assert (overridden.ack_wait, overridden.max_deliver) == (30.0, 5)
    assert (declared.ack_policy, declared.deliver_policy) == (AckPolicy.EXPLICIT, DeliverPolicy.ALL)
    assert CHANGES_QUEUE.config().max_deliver == 20
    assert SEND_QUEUE.config().max_deliver == EGRESS_SEND_QUEUE.config().max_deliver == -1
