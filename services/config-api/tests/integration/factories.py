"""Request bodies for the tests: valid by default, each test changes what it is about."""

from typing import Any


def imap_server_body(name: str = "Main IMAP", **changes: Any) -> dict[str, Any]:
    return {
        "name": name,
        "smtp_host": "smtp.example.com",
        "incoming_protocol": "imap",
        "incoming_host": "imap.example.com",
        **changes,
    }


def pop3_server_body(name: str = "Main POP3", **changes: Any) -> dict[str, Any]:
    return (
        imap_server_body(name, incoming_protocol="pop3", incoming_host="pop.example.com") | changes
    )


def account_body(
    server_id: str, owner_type: str, owner_id: str, address: str = "ann@example.com", **changes: Any
) -> dict[str, Any]:
    return {
        "owner": {"type": owner_type, "id": owner_id},
        "server_id": server_id,
        "login": address,
        "address": address,
        **changes,
    }
