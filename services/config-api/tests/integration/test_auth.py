"""API keys: 401 without a valid key, 403 when not allowed, 404 for another owner's objects."""

from typing import Any

from config_api_testing import Api, account_body, imap_server_body
from mailbridge.common.db.tables import ApiKey
from sqlalchemy import select


async def test_missing_malformed_and_unknown_keys_get_401(api: Api) -> None:
    assert (await api.client.get("/business-units")).status_code == 401
    for header in ("Basic abc", "Bearer", "Bearer not-a-key", f"Bearer mbk_{'0' * 32}_secret"):
        response = await api.client.get("/business-units", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.headers["content-type"] == "application/problem+json"


async def test_keys_are_stored_hashed(api: Api) -> None:
    async with api.running.sessions() as session:
        stored = list(await session.scalars(select(ApiKey.secret_sha256)))
    secret = api.key.rsplit("_", 1)[1]
    assert stored
    assert all(secret not in value for value in stored)


async def _two_users_with_accounts(api: Api) -> dict[str, Any]:
    server = await api.create("/mail-servers", imap_server_body())
    ann = await api.create("/users", {"name": "Ann", "email": "ann@example.com"})
    bob = await api.create("/users", {"name": "Bob", "email": "bob@example.com"})
    sales = await api.create("/groups", {"name": "Sales", "member_ids": [ann["id"]]})
    ops = await api.create("/groups", {"name": "Ops", "member_ids": [bob["id"]]})
    owners = {
        "ann": ("user", ann),
        "bob": ("user", bob),
        "sales": ("group", sales),
        "ops": ("group", ops),
    }
    accounts = {
        name: await api.create(
            "/mail-accounts",
            account_body(server["id"], kind, owner["id"], f"{name}@example.com"),
        )
        for name, (kind, owner) in owners.items()
    }
    return {"ann": ann, "bob": bob, "sales": sales, "ops": ops, "accounts": accounts}


async def test_user_key_reads_own_and_group_accounts_only(api: Api) -> None:
    world = await _two_users_with_accounts(api)
    ann = await api.user_key(world["ann"]["id"])
    listed = (await ann.get("/mail-accounts")).json()["items"]
    assert sorted(a["address"] for a in listed) == ["ann@example.com", "sales@example.com"]
    own = world["accounts"]["ann"]["id"]
    assert (await ann.get(f"/mail-accounts/{own}")).status_code == 200
    for foreign in ("bob", "ops"):
        response = await ann.get(f"/mail-accounts/{world['accounts'][foreign]['id']}")
        assert response.status_code == 404
    assert (await ann.get(f"/users/{world['ann']['id']}/mail-accounts")).status_code == 200
    assert (await ann.get(f"/groups/{world['sales']['id']}/mail-accounts")).status_code == 200
    assert (await ann.get(f"/users/{world['bob']['id']}/mail-accounts")).status_code == 404
    assert (await ann.get(f"/groups/{world['ops']['id']}/mail-accounts")).status_code == 404


async def test_user_key_may_not_change_or_read_configuration(api: Api) -> None:
    world = await _two_users_with_accounts(api)
    ann = await api.user_key(world["ann"]["id"])
    own = world["accounts"]["ann"]["id"]
    assert (await ann.get("/mail-servers")).status_code == 403
    assert (await ann.get("/users")).status_code == 403
    assert (await ann.post("/business-units", {"name": "X"})).status_code == 403
    assert (await ann.patch(f"/mail-accounts/{own}", {"alias": "Me"})).status_code == 403
    assert (await ann.delete(f"/mail-accounts/{own}")).status_code == 403
    assert (await ann.patch("/settings/mail", {"hide_mailbox": True})).status_code == 403
    assert (await ann.get("/settings/mail")).status_code == 200
    assert (await api.get(f"/mail-accounts/{own}")).json()["alias"] is None


async def test_deleting_a_user_revokes_the_users_keys(api: Api) -> None:
    carl = await api.create("/users", {"name": "Carl", "email": "carl@example.com"})
    key = await api.user_key(carl["id"])
    assert (await key.get("/settings/mail")).status_code == 200
    assert (await api.delete(f"/users/{carl['id']}")).status_code == 204
    assert (await key.get("/settings/mail")).status_code == 401
