"""The XOAUTH2 SASL string and the server's error challenge (S2), as Microsoft and Google document them."""

import base64

from mailbridge.common.xoauth2 import error_challenge, initial_response, sendable


def test_s2_the_initial_response_is_base64_of_user_and_bearer_separated_by_ctrl_a() -> None:
    # Microsoft's example: base64("user=test@contoso.onmicrosoft.com^Aauth=Bearer EwBAAl3BAAUFFpUAo7J3Ve0bjLBWZWCclRC3EoAA^A^A")
    sasl = initial_response("test@contoso.onmicrosoft.com", "EwBAAl3BAAUFFpUAo7J3Ve0bjLBWZWCclRC3EoAA")
    assert sasl == (
        b"dXNlcj10ZXN0QGNvbnRvc28ub25taWNyb3NvZnQuY29tAWF1dGg9QmVhcmVyIEV3QkFBbDNCQUFVRkZwVUFvN0ozVmUwYmpMQldaV0NjbFJDM0VvQUEBAQ=="
    )


def test_s2_an_error_challenge_is_read_for_its_status_and_scope() -> None:
    challenge = base64.b64encode(b'{"status":"401","schemes":"bearer","scope":"mail"}')
    assert error_challenge(challenge) == "status 401, scope mail"
    assert error_challenge(b"") is None
    assert error_challenge(b"not base64!") is None
    assert error_challenge(base64.b64encode(b"[1, 2]")) is None


def test_s2_control_characters_cannot_travel_in_the_sasl_string() -> None:
    assert sendable("ann@example.org", "eyJ0eXAi.x.y")
    assert not sendable("ann@example.org\x01", "t")
    assert not sendable("ann@example.org", "t\r\nA1 LOGOUT")
