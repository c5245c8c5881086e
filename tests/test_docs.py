"""The README documents what the code does: every setting and every API route."""

from __future__ import annotations

import re
from pathlib import Path

from chatmem.config import Settings
from chatmem.server import create_app

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_setting_is_listed_in_the_readme() -> None:
    missing = [
        f"CHATMEM_{name.upper()}" for name in Settings.model_fields if f"CHATMEM_{name.upper()}" not in README
    ]
    assert missing == []


def test_every_api_route_is_listed_in_the_readme(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'docs.db'}"))
    routes = [path for path in app.openapi()["paths"] if path.startswith("/api/v1")]
    assert len(routes) >= 10
    documented = {
        re.sub(r"\{[^}]*\}", "{}", path) for path in re.findall(r"`(?:[A-Z, ]+ )?(/api/v1/[^`? ]*)", README)
    }
    assert [path for path in routes if re.sub(r"\{[^}]*\}", "{}", path) not in documented] == []
