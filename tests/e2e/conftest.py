"""End-to-end fixtures: the whole platform (every service as its own process, the nginx gateway) on free
ports, over the session's real Kafka, MongoDB and Elasticsearch servers."""

import json
import uuid
from collections.abc import Iterator

import httpx
import pytest
from agora_devservers.stack import Stack
from e2e.helpers import backlog

WARNINGS_PER_SERVICE = 20  # the last distinct warnings and errors of each service, in a failed test's report


def _diagnosis(stack: Stack) -> str:
    """The last warnings and errors each service of `stack` logged (its JSON log lines), for a failure report:
    CI keeps no files, so a flaky wait would otherwise leave no trace of why."""
    parts = []
    for name, process in sorted(stack.processes.items()):
        if process.log_path is None or not process.log_path.exists():
            continue
        # each distinct message once, where it was last seen, with how often: a retry repeated for minutes must
        # not push out the one warning that says what happened
        seen: dict[str, tuple[str, int]] = {}
        for line in process.log_path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
                level, message = entry.get("level"), entry.get("message", line)
            except ValueError:
                level, message = "TEXT", line  # a traceback's lines or a server's own output
            if level in ("WARNING", "ERROR", "CRITICAL", "TEXT"):
                count = seen.pop(message, ("", 0))[1] + 1
                seen[message] = (line[:400], count)
        lines = [line if count == 1 else f"{line} (x{count}, this the last)"
                 for line, count in list(seen.values())[-WARNINGS_PER_SERVICE:]]
        if process.port:  # and what it still has on its way (a stuck consumer or relay)
            try:
                lines += backlog(stack.service_url(name))
            except httpx.HTTPError as exc:
                lines.append(f"/metrics: {exc!r}")
        if lines:
            parts.append(f"--- {name} ---\n" + "\n".join(lines))
    return "\n".join(parts)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    stacks = [v for v in getattr(item, "funcargs", {}).values() if isinstance(v, Stack)]
    stacks += getattr(item, "agora_stacks", [])
    for i, stack in enumerate(stacks):
        if text := _diagnosis(stack):
            report.sections.append((f"services' last warnings and backlogs (stack {i})", text))


@pytest.fixture(scope="session")
def stack(kafka_bootstrap, mongo_url, elasticsearch_url, redis_url, tmp_path_factory) -> Iterator[Stack]:
    name = "e2e" + uuid.uuid4().hex[:8]
    platform = Stack.on_free_ports(
        tmp_path_factory.mktemp("stack"),
        external={"kafka": kafka_bootstrap, "mongo": mongo_url, "elasticsearch": elasticsearch_url, "redis": redis_url},
        topic_prefix=f"{name}.",
        db_prefix=f"{name}_",
        with_prometheus=False,
        say=lambda message: None,
    )
    platform.start()
    try:
        yield platform
    finally:
        platform.stop()


@pytest.fixture
def gateway(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.gateway_url, timeout=30) as client:
        yield client


# Lower password-hashing cost for the stacks the scenario and fault tests start (as the services' own tests do):
# a few hundred registrations at the production argon2 cost would take minutes on two cores.
FAST_HASHING = {"AGORA_ARGON2_TIME_COST": "1", "AGORA_ARGON2_MEMORY_COST_KIB": "8", "AGORA_ARGON2_PARALLELISM": "1"}


@pytest.fixture
def new_stack(request, kafka_bootstrap, mongo_url, elasticsearch_url, redis_url, tmp_path_factory, monkeypatch):
    """A factory of private platforms (own topics and databases, so exact figures are not disturbed by other
    tests); `own_broker=True` gives the platform its own embedded broker (to stop it in outage tests).
    Every platform started here is stopped at the end of the test."""
    for key, value in FAST_HASHING.items():
        monkeypatch.setenv(key, value)  # Stack passes its environment on to every service process
    started: list[Stack] = []
    request.node.agora_stacks = started  # for a failure's report

    def make(*, own_broker: bool = False) -> Stack:
        name = "e2e" + uuid.uuid4().hex[:8]
        external = {"elasticsearch": elasticsearch_url, "redis": redis_url}
        if not own_broker:
            external |= {"kafka": kafka_bootstrap, "mongo": mongo_url}
        # with its own broker the platform also gets a fresh database server: the session's, after many tests,
        # is much slower (SecantusDB slows down the longer it runs) and the outage test then times out
        platform = Stack.on_free_ports(
            tmp_path_factory.mktemp(name), external=external, topic_prefix=f"{name}.", db_prefix=f"{name}_",
            with_prometheus=False, say=lambda message: None,
        )
        started.append(platform)
        platform.start()
        return platform

    yield make
    for platform in reversed(started):
        platform.stop()
