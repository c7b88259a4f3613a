"""#17: the outbox item shows each recipient's state (accepted, refused temporarily, refused
permanently, with the server's reply), as the sender records it; rows sent before keep
`recipient_results` and show the same states read from it."""

import uuid
from typing import Any

from config_api_testing import MAIL, Api, outbox_world
from mailbridge.common.db.outbox import OutboxMessage
from sqlalchemy import update

GREYLISTED = "450 4.2.0 greylisted, try again later"
NO_SUCH_USER = "550 5.1.1 no such user"


async def _queued(api: Api, **columns: Any) -> str:
    world = await outbox_world(api)
    queued = await world["ann"].post(f"/mail-accounts/{world['mine']['id']}/messages", MAIL)
    assert queued.status_code == 202, queued.text
    async with api.running.sessions() as session:
        statement = update(OutboxMessage).where(OutboxMessage.id == uuid.UUID(queued.json()["id"]))
        await session.execute(statement.values(**columns))
        await session.commit()
    return str(queued.json()["id"])


async def test_the_item_shows_every_recipients_state(api: Api) -> None:
    states = {
        "ann@example.org": {"state": "accepted", "reply": "250 2.1.5 Ok", "attempt": 1},
        "bob@example.org": {"state": "refused_temporarily", "reply": GREYLISTED, "attempt": 1},
        "eve@example.org": {"state": "refused_permanently", "reply": NO_SUCH_USER, "attempt": 1},
    }
    outbox_id = await _queued(api, recipient_states=states, status="queued", attempts=1)
    item = (await api.get(f"/outbox/{outbox_id}")).json()
    assert item["recipient_states"] == states
    assert item["recipient_results"] == {"bob@example.org": GREYLISTED, "eve@example.org": NO_SUCH_USER}
    listed = (await api.get("/outbox")).json()["items"]
    assert [row["recipient_states"] for row in listed if row["id"] == outbox_id] == [states]


async def test_a_row_sent_before_shows_its_refusals_as_states(api: Api) -> None:
    outbox_id = await _queued(
        api, recipient_results={"eve@example.org": NO_SUCH_USER, "bob@x.org": GREYLISTED}
    )
    item = (await api.get(f"/outbox/{outbox_id}")).json()
    assert item["recipient_states"] == {
        "eve@example.org": {"state": "refused_permanently", "reply": NO_SUCH_USER, "attempt": 0},
        "bob@x.org": {"state": "refused_temporarily", "reply": GREYLISTED, "attempt": 0},
    }
    assert item["recipient_results"] == {"eve@example.org": NO_SUCH_USER, "bob@x.org": GREYLISTED}


async def test_a_new_mail_has_no_recipient_state_yet(api: Api) -> None:
    item = (await api.get(f"/outbox/{await _queued(api)}")).json()
    assert (item["recipient_states"], item["recipient_results"]) == ({}, {})
