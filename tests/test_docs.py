"""The docs document what the code does: every setting and API route in the README, every SDK method
in docs/sdk.md."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from chatmem.config import Settings
from chatmem.server import create_app
from chatmem_client import ZepClient, operation

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
SDK_DOC = (ROOT / "docs/sdk.md").read_text()


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


def sdk_methods() -> dict[str, list[str]]:
    """``resource.method`` -> parameter names, for every sync method of the client's resources."""
    client = ZepClient("http://127.0.0.1:9")
    methods: dict[str, list[str]] = {}
    for resource_name in ("memory", "message", "user"):
        resource = getattr(client, resource_name)
        for name, op in vars(type(resource)).items():
            if isinstance(op, operation.sync | operation.sync_pages):
                methods[f"{resource_name}.{name}"] = list(
                    inspect.signature(getattr(resource, name)).parameters
                )
    return methods


def documented_sdk_methods() -> dict[str, int]:
    """``resource.method`` -> number of arguments, from the rows of docs/sdk.md's method table."""
    rows = re.findall(r"^\| `(\w+\.\w+)\((.*?)\)` \|", SDK_DOC, flags=re.MULTILINE)
    # Arguments are split at top-level commas: {"metadata": {...}} is one.
    return {name: len(re.findall(r",(?![^{(]*[})])", args)) + 1 if args else 0 for name, args in rows}


def test_the_sdk_method_table_lists_every_method_with_its_arguments() -> None:
    actual = {name: len(params) for name, params in sdk_methods().items()}
    assert documented_sdk_methods() == actual
