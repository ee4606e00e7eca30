"""The alert rules and their promtool tests use the metrics the services really expose: every metric an expression
of deploy/prometheus/rules/agora-rules.yml reads, and every input series of deploy/prometheus/tests/agora-rules.test.yml,
is in some service's own /metrics output, with label names that metric really has (plus those the scrape adds).
A renamed metric or label, or a test series that no service produces, fails here instead of in production."""

import asyncio
import gc
import importlib
import re
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "rules" / "agora-rules.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "tests" / "agora-rules.test.yml"
SERVICES = ("users", "content", "events", "points", "search")
SCRAPE_LABELS = {"job", "instance", "agora_service", "namespace", "pod", "service", "container", "endpoint"}
PROMETHEUS_OWN = {"up"}  # series Prometheus makes itself
SUFFIXES = {"counter": ("_total", "_created"), "gauge": ("",), "histogram": ("_bucket", "_count", "_sum", "_created"),
            "summary": ("", "_count", "_sum", "_created"), "info": ("_info",), "unknown": ("",)}


def _scrape_every_service() -> list[str]:
    async def scrape() -> list[str]:
        texts = []
        for name in SERVICES:
            app = importlib.import_module(f"agora_{name}.main").create_app()
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
                await client.get("/api/v1/no-such-route")  # one instrumented request: the HTTP metrics have samples
                texts.append((await client.get("/metrics")).text)
        return texts

    threshold = gc.get_threshold()  # the points app tunes the collector for its process
    try:
        return asyncio.run(scrape())
    finally:
        gc.set_threshold(*threshold)


@pytest.fixture(scope="module")
def exposed() -> dict[str, set[str]]:
    """{sample name: label names} of everything the services' /metrics expose (one process: one registry)."""
    texts = _scrape_every_service()
    declared = {name: set(getattr(collector, "_labelnames", ()))  # labels of metrics that have no sample yet
                for collector, names in REGISTRY._collector_to_names.items() for name in names}
    samples: dict[str, set[str]] = {}
    for text in texts:
        for family in text_string_to_metric_families(text):
            for suffix in SUFFIXES.get(family.type, ("",)):
                name = family.name + suffix
                labels = samples.setdefault(name, set())
                labels |= declared.get(name, set()) | declared.get(family.name, set())
                if suffix == "_bucket":
                    labels.add("le")
            for sample in family.samples:
                samples.setdefault(sample.name, set()).update(sample.labels)
    return samples


def _selectors(expr: str) -> list[str]:
    """Metric names an expression reads (not label names, functions or recording rules)."""
    expr = re.sub(r'"[^"]*"', '""', expr)  # label values
    expr = re.sub(r"\{[^}]*\}", "", expr)  # matchers
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)  # grouping labels
    return [m for m in re.findall(r"\b[a-zA-Z_][a-zA-Z0-9_:]*\b(?!\s*\()", expr)
            if ":" not in m and not m.isdigit() and m not in _KEYWORDS and not re.fullmatch(r"\d+[smhdwy]", m)]


_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left",
             "group_right", "inf", "nan", "Inf", "NaN"}


def test_every_metric_the_rules_read_is_exposed_by_a_service(exposed):
    groups = yaml.safe_load(RULES.read_text())["groups"]
    read = {name: rule.get("alert") or rule.get("record") for g in groups for rule in g["rules"]
            for name in _selectors(rule["expr"])}
    assert read, "no metric found in the rules"
    unknown = {name: rule for name, rule in read.items() if name not in exposed and name not in PROMETHEUS_OWN}
    assert not unknown, f"rules read metrics no service exposes: {unknown}"
    assert {"agora_consumer_lag_messages", "agora_consumer_lag_seconds"} <= set(read)


def test_every_promtool_input_series_is_one_a_service_really_produces(exposed):
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    series = [s["series"] for t in tests for s in t["input_series"]]
    problems = []
    for text in series:
        match = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\}", text.strip())
        assert match, f"cannot read the series {text!r}"
        name, labels = match[1], set(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"', match[2]))
        if name in PROMETHEUS_OWN:
            continue
        if name not in exposed:
            problems.append(f"{name}: no service exposes it")
        elif extra := labels - exposed[name] - SCRAPE_LABELS:
            problems.append(f"{name}: labels {sorted(extra)} it does not have (it has {sorted(exposed[name])})")
        elif "agora_service" not in labels:
            problems.append(f"{text}: no agora_service label (every scraped series has one)")
    assert not problems, "\n".join(problems)
    assert any(s.startswith("agora_consumer_lag_seconds{") for s in series)
    assert any(s.startswith("agora_consumer_lag_messages{") for s in series)
