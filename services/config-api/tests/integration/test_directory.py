"""Business units (A4), users and groups: uniqueness, references, membership, deletion."""

from config_api_testing import Api, account_body, imap_server_body, rules

MISSING = "01a21a80-4577-7c31-aec5-77c42ab161e2"


async def test_business_unit_names_are_unique_and_units_in_use_stay(api: Api) -> None:
    unit = await api.create("/business-units", {"name": "Berlin"})
    assert rules(await api.post("/business-units", {"name": "Berlin"})) == {"name": "unique"}
    user = await api.create(
        "/users", {"name": "Ann", "email": "ann@example.com", "business_unit_id": unit["id"]}
    )
    blocked = await api.delete(f"/business-units/{unit['id']}")
    assert blocked.status_code == 409
    assert blocked.json()["blocking_ids"] == [user["id"]]


async def test_a4_account_is_filed_under_a_business_unit(api: Api) -> None:
    unit = await api.create("/business-units", {"name": "Hamburg"})
    server = await api.create("/mail-servers", imap_server_body())
    ann = await api.create("/users", {"name": "Ann", "email": "ann@example.com"})
    body = account_body(server["id"], "user", ann["id"], business_unit_id=unit["id"])
    assert (await api.create("/mail-accounts", body))["business_unit_id"] == unit["id"]
    bad = account_body(server["id"], "user", ann["id"], business_unit_id=MISSING)
    assert rules(await api.post("/mail-accounts", bad)) == {"business_unit_id": "reference"}


async def test_user_email_is_validated_and_unique(api: Api) -> None:
    await api.create("/users", {"name": "Ann", "email": "ann@example.com"})
    assert rules(await api.post("/users", {"name": "Ann 2", "email": "ann@example.com"})) == {
        "email": "unique"
    }
    assert rules(await api.post("/users", {"name": "X", "email": "nope"})) == {"email": "email"}
    assert rules(
        await api.post("/users", {"name": "X", "email": "x@example.com", "business_unit_id": MISSING})
    ) == {"business_unit_id": "reference"}


async def test_group_membership_changes_bump_the_version(api: Api) -> None:
    ann = await api.create("/users", {"name": "Ann", "email": "ann@example.com"})
    bob = await api.create("/users", {"name": "Bob", "email": "bob@example.com"})
    group = await api.create("/groups", {"name": "Sales", "member_ids": [ann["id"]]})
    changed = await api.patch(
        f"/groups/{group['id']}", {"member_ids": [ann["id"], bob["id"]]}, {"If-Match": '"1"'}
    )
    assert changed.status_code == 200
    assert sorted(changed.json()["member_ids"]) == sorted([ann["id"], bob["id"]])
    assert changed.json()["version"] == 2
    assert rules(await api.patch(f"/groups/{group['id']}", {"member_ids": [MISSING]})) == {
        "member_ids": "reference"
    }
    assert rules(await api.post("/groups", {"name": "Sales"})) == {"name": "unique"}


async def test_deleting_a_user_removes_the_membership(api: Api) -> None:
    ann = await api.create("/users", {"name": "Ann", "email": "ann@example.com"})
    group = await api.create("/groups", {"name": "Sales", "member_ids": [ann["id"]]})
    assert (await api.delete(f"/users/{ann['id']}")).status_code == 204
    assert (await api.get(f"/groups/{group['id']}")).json()["member_ids"] == []


async def test_paging_walks_every_object_once(api: Api) -> None:
    created = [(await api.create("/business-units", {"name": f"Unit {i}"}))["id"] for i in range(7)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = (await api.get("/business-units", **params)).json()
        seen += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert (seen, pages) == (created, 3)
    assert rules(await api.get("/business-units", cursor="!!!")) == {"cursor": "cursor"}
    assert (await api.get("/business-units", limit=0)).status_code == 422
