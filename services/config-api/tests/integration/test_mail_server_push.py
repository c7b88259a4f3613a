"""#18: `push` on a mail server (IMAP IDLE push, default on): stored, shown, changed by PATCH."""

from config_api_testing import Api, imap_server_body


async def test_18_push_defaults_to_true_and_can_be_turned_off(api: Api) -> None:
    server = await api.create("/mail-servers", imap_server_body())
    assert server["push"] is True
    opted_out = await api.create("/mail-servers", imap_server_body(name="Opted out", push=False))
    assert opted_out["push"] is False
    path = f"/mail-servers/{server['id']}"
    changed = await api.patch(path, {"push": False}, {"If-Match": '"1"'})
    assert changed.status_code == 200
    assert (await api.get(path)).json()["push"] is False


async def test_18_push_must_be_a_boolean(api: Api) -> None:
    response = await api.post("/mail-servers", imap_server_body(push="sometimes"))
    assert response.status_code == 422
