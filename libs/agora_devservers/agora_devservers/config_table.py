"""Writes docs/configuration.md: every AGORA_* environment variable, per service, with its default and what it
does, read from the settings classes (the comment above a field, or on its line, is its description). `make docs`
runs it; a test fails when the committed file differs from the code or a setting has no description.

    python -m agora_devservers.config_table [--check]
"""

import importlib
import inspect
import re
from pathlib import Path

from agora_common.settings import ServiceSettings
from pydantic import SecretStr
from pydantic_settings import BaseSettings

from agora_devservers import generated_docs

SERVICES = ("users", "content", "events", "points", "search")
DOC = Path(__file__).resolve().parents[3] / "docs" / "configuration.md"
_FIELD = re.compile(r"^    ([a-z_][a-z0-9_]*)\s*:")


def descriptions(cls: type[BaseSettings]) -> dict[str, str]:
    """field -> the comment at the end of its line, or the comment block above the group of fields it is in (a
    group ends at a blank line)."""
    out: dict[str, str] = {}
    pending: list[str] = []
    group = ""
    for line in inspect.getsource(cls).splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            pending.append(stripped.lstrip("#").strip())
            continue
        if not stripped:
            pending, group = [], ""
            continue
        match = _FIELD.match(line)
        if match:
            if pending:
                group, pending = " ".join(pending), []
            trailing = line.split("  # ", 1)[1].strip() if "  # " in line else ""
            out[match.group(1)] = trailing or group
    return out


def _default(value) -> str:
    if isinstance(value, SecretStr):
        return "(development value; set it)"
    if value is None:
        return "unset"
    if value == "":
        return '""'
    return f"`{value}`"


def rows(cls: type[BaseSettings], *, own_only: bool) -> list[tuple[str, str, str]]:
    texts = descriptions(cls)
    out = []
    for name, field in cls.model_fields.items():
        if own_only and name not in inspect.get_annotations(cls):
            continue
        if name == "service_name":
            continue  # fixed per service
        default = "per host" if field.default_factory is not None else _default(field.default)
        out.append((f"AGORA_{name.upper()}", default, texts.get(name, "")))
    return out


def _markdown(text: str) -> str:
    """Angle brackets outside code spans would be read as HTML tags."""
    parts = text.split("`")
    return "`".join(p if i % 2 else p.replace("<", "&lt;").replace(">", "&gt;") for i, p in enumerate(parts))


def _table(rows_: list[tuple[str, str, str]]) -> list[str]:
    out, last = ["| variable | default | |", "|---|---|---|"], None
    for variable, default, text in rows_:
        out.append(f"| `{variable}` | {default} | {'(as above)' if text == last else _markdown(text)} |")
        last = text
    return out


def settings_classes() -> dict[str, type[BaseSettings]]:
    return {svc: importlib.import_module(f"agora_{svc}.config").Settings for svc in SERVICES}


def render() -> str:
    lines = [
        "# Configuration",
        "",
        "Every service reads `AGORA_*` environment variables (pydantic-settings; an `.env` file in the working",
        "directory also works). Generated from the settings classes by `make docs`; do not edit by hand.",
        "",
        "## Every service (`libs/agora_common/agora_common/settings.py`)",
        "",
        *_table(rows(ServiceSettings, own_only=False)),
    ]
    for svc, cls in settings_classes().items():
        lines += ["", f"## {svc} (`services/{svc}/agora_{svc}/config.py`)", "", *_table(rows(cls, own_only=True))]
    return "\n".join(lines) + "\n"


def main() -> int:
    return generated_docs.main(DOC, render, description=__doc__.splitlines()[0])


if __name__ == "__main__":
    raise SystemExit(main())
