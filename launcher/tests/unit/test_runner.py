"""`mailbridge run` refuses to start without every listed service (#12): named, nothing created."""

from pathlib import Path

import pytest
from mailbridge.config_api.settings import ConfigApiSettings
from mailbridge.launcher.runner import SERVICE_MODULES, MissingServices, require_installed, run


def test_every_listed_service_is_installed() -> None:
    assert require_installed(SERVICE_MODULES) == list(SERVICE_MODULES)


def test_a_missing_service_stops_the_start_with_its_name(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    services = ("mailbridge.config_api", "mailbridge.not_a_service", "mailbridge.common")
    with pytest.raises(MissingServices) as raised:
        run(ConfigApiSettings(var_dir=var_dir), services)
    assert raised.value.modules == ["mailbridge.not_a_service", "mailbridge.common"]
    assert "cannot start mailbridge.not_a_service, mailbridge.common: not installed" in str(raised.value)
    assert not var_dir.exists(), "nothing is created or migrated"
