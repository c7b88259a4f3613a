"""Secrets at rest: authenticated encryption under a key ring, rotation to the newest key."""

import stat
from pathlib import Path

import pytest
from mailbridge.common.secrets import (
    SecretBox,
    SecretKeyError,
    generate_key,
    load_or_create_key_file,
    resolve_key_ring,
)


def test_round_trip_without_plaintext_in_the_token() -> None:
    box = SecretBox([generate_key()])
    token = box.encrypt("hunter2-password")
    assert "hunter2" not in token
    assert box.decrypt(token) == "hunter2-password"


def test_tampered_token_is_rejected() -> None:
    box = SecretBox([generate_key()])
    token = box.encrypt("value")
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(SecretKeyError):
        box.decrypt(tampered)


def test_rotation_old_key_still_reads_newest_writes() -> None:
    old, new = generate_key(), generate_key()
    token = SecretBox([old]).encrypt("value")
    ring = SecretBox.from_ring(f"{new},{old}")
    assert ring.decrypt(token) == "value"
    assert ring.needs_rotation(token)
    rotated = ring.rotate(token)
    assert not ring.needs_rotation(rotated)
    assert SecretBox([new]).decrypt(rotated) == "value"
    with pytest.raises(SecretKeyError):
        SecretBox([old]).decrypt(rotated)


@pytest.mark.parametrize("ring", ["", "not-a-key", "  ,  "])
def test_bad_key_ring_is_a_clear_error(ring: str) -> None:
    with pytest.raises(SecretKeyError, match="MAILBRIDGE_SECRET_KEY"):
        SecretBox.from_ring(ring)


def test_key_file_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "var" / "secret.key"
    key = load_or_create_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key_file(path) == key
    assert resolve_key_ring(None, path.parent) == key
    assert resolve_key_ring("configured", path.parent) == "configured"
    with pytest.raises(SecretKeyError, match="MAILBRIDGE_SECRET_KEY"):
        resolve_key_ring(None, tmp_path / "elsewhere")
