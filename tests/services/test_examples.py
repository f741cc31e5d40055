"""The services' example settings files load, and show every key their settings have (the files are
the settings' documentation: a key added to the code and not to the file fails here)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from dfmi_py.paths import PROJECT_ROOT
from dfmi_py.services.config import SenderSettings, ServiceSettings, load_settings
from dfmi_py.services.feeder.config import FeederSettings
from dfmi_py.services.keeper.config import KeeperSettings


@pytest.mark.parametrize(("name", "model"), [("feeder.toml", FeederSettings), ("keeper.toml", KeeperSettings)])
def test_the_example_loads_and_shows_every_key(name: str, model: type[ServiceSettings]) -> None:
    path = PROJECT_ROOT / "examples" / name
    load_settings(path, model)
    documented = path.read_text()
    tables: dict[str, type[BaseModel]] = {"sender": SenderSettings}
    for key in model.model_fields:
        if key in tables:
            assert f"[{key}]" in documented, f"examples/{name} has no [{key}] table"
            for inner in tables[key].model_fields:
                assert f"{inner} =" in documented, f"examples/{name} does not show {key}.{inner}"
        elif key != "feeds":  # the feeder's per-market tables: tests/services/test_feeds.py
            assert f"{key} =" in documented, f"examples/{name} does not show {key}"
