"""S4 (#17): one rule for the API and the sender: no AUTH in clear off loopback unless allowed."""

import pytest
from mailbridge.common.plaintext_auth import on_loopback, plaintext_auth_refusal


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("[::1]", True), ("localhost", True),
     ("LOCALHOST.", True), ("mail.localhost", True), ("localhost.example.com", False), ("10.0.0.1", False),
     ("::ffff:10.0.0.1", False), ("smtp.example.com", False), ("", False)],
)  # fmt: skip
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert on_loopback(host) is loopback


def test_only_auth_over_none_off_loopback_without_the_allowance_is_refused() -> None:
    refusal = plaintext_auth_refusal("smtp.example.com:25", "none", True, False)
    assert refusal is not None
    assert "in clear to smtp.example.com" in refusal
    assert "allow_plaintext_auth" in refusal
    assert plaintext_auth_refusal("smtp.example.com:25", "none", True, True) is None
    assert plaintext_auth_refusal("smtp.example.com:25", "none", False, False) is None
    assert plaintext_auth_refusal("smtp.example.com:25", "auto", True, False) is None
    assert plaintext_auth_refusal("smtp.example.com", "ssl", True, False) is None
    assert plaintext_auth_refusal("[::1]:2525", "none", True, False) is None
    assert plaintext_auth_refusal("::1", "none", True, False) is None  # the sender's bare host
