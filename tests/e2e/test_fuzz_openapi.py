"""Fuzz every operation of the platform's OpenAPI document through the gateway (schemathesis, issue 8).

The combined document the gateway serves (`/api/v1/openapi.json`, merged from every service) is loaded from a
private platform; each operation gets a bounded number of generated requests (derandomized: the same inputs
every run), authenticated as a member, and operator routes a second time as the operator. Checked on every
response: no 5xx, the body matches the documented schema for its status code, and the content type is the
documented one.

Excluded: `DELETE /api/v1/users/me` (would delete the fuzzing member, leaving every later request
unauthenticated). A failure prints schemathesis's reproduction (a curl command) in the test report.
"""

import itertools
import os
import uuid
from collections import Counter

import httpx
import pytest
import requests
import schemathesis
from agora_devservers.stack import Stack
from e2e.conftest import FAST_HASHING
from e2e.helpers import Client, client_address
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

EXAMPLES = int(os.environ.get("AGORA_FUZZ_EXAMPLES", "10"))
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
if os.environ.get("AGORA_FUZZ_STATUS_CODES"):  # also: every status code returned is documented (stricter)
    CHECKS.append(status_code_conformance)
PRIVILEGED_WORDS = ("operator", "moderator", "organiser")
EXCLUDED = {("DELETE", "/api/v1/users/me")}


@pytest.fixture(scope="module")
def fuzz_platform(kafka_bootstrap, mongo_url, elasticsearch_url, redis_url, tmp_path_factory):
    name = "fz" + uuid.uuid4().hex[:8]
    with pytest.MonkeyPatch.context() as mp:
        for key, value in FAST_HASHING.items():
            mp.setenv(key, value)
        platform = Stack.on_free_ports(
            tmp_path_factory.mktemp(name), topic_prefix=f"{name}.", db_prefix=f"{name}_", with_prometheus=False,
            external={"kafka": kafka_bootstrap, "mongo": mongo_url, "elasticsearch": elasticsearch_url, "redis": redis_url},
            say=lambda message: None)
        platform.start()
        try:
            yield platform
        finally:
            platform.stop()


@pytest.fixture(scope="module")
def identities(fuzz_platform) -> dict[str, dict[str, str]]:
    member = Client(fuzz_platform.gateway_url, 700).register("Fuzz Member", f"fuzz.{uuid.uuid4().hex[:8]}@example.org")
    operator = Client(fuzz_platform.gateway_url, 701).login(fuzz_platform.operator_email,
                                                            fuzz_platform.operator_password)
    # real documents: a second pass fuzzes bodies and queries with these ids in the path, to reach the handlers
    q = member.call("POST", "/api/v1/content/questions",
                    json={"title": "Fuzzing the API gateway", "body": "What breaks?", "tags": ["fuzz"]})
    a = operator.call("POST", f"/api/v1/content/questions/{q['id']}/answers", json={"body": "Hopefully nothing."})
    art = member.call("POST", "/api/v1/content/articles", json={"title": "Fuzz notes", "body": "Notes.", "tags": ["fuzz"]})
    sig = operator.call("POST", "/api/v1/users/sigs", json={"name": "Fuzzers", "tags": ["fuzz"]})
    event = operator.call("POST", "/api/v1/events", json={
        "kind": "training", "title": "Fuzz training", "starts_at": "2030-01-01T10:00:00Z", "online": True})
    operator.call("POST", f"/api/v1/events/{event['id']}/publish")
    operator.call("POST", f"/api/v1/events/{event['id']}/open-registration")
    ids = {"question_id": q["id"], "answer_id": a["id"], "post_id": q["id"], "article_id": art["id"],
           "sig_id": sig["id"], "event_id": event["id"], "user_id": member.id, "speaker_id": member.id}
    return {"member": member.headers(), "operator": operator.headers(), "ids": ids}


class SourceAddressAdapter(requests.adapters.HTTPAdapter):
    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def source_session(address: str) -> requests.Session:
    """A session sending from its own loopback address: the gateway's per-client rate limits (429, not in the
    services' documents) then do not cut the fuzzing short; each operation's run gets a fresh address."""
    session = requests.Session()
    session.mount("http://", SourceAddressAdapter(address))
    return session


_addresses = (client_address(i) for i in itertools.count(1000))

SERVICES = ("users", "content", "events", "points", "search")


@pytest.fixture(scope="module")
def api_schema(fuzz_platform):
    document = httpx.get(f"{fuzz_platform.gateway_url}/api/v1/openapi.json", timeout=30).json()
    return schemathesis.openapi.from_dict(document)


def privileged(operation) -> bool:
    text = f"{operation.definition.raw.get('summary', '')} {operation.definition.raw.get('description', '')}"
    return any(word in text.lower() for word in PRIVILEGED_WORDS)


def fuzz_operation(operation, mode: GenerationMode, examples: int, base_url: str, headers: list[dict],
                   failures: dict, statuses: Counter, path_parameters: dict | None = None) -> int:
    """Run `examples` generated cases; record each distinct failure once (operation, check) with a reproduction."""
    calls = 0
    session = source_session(next(_addresses))

    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    @settings(max_examples=examples, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    def run(case) -> None:
        nonlocal calls
        for h in headers:
            calls += 1
            response = case.call(base_url=base_url, headers=h, session=session)
            statuses[response.status_code] += 1
            try:
                case.validate_response(response, checks=CHECKS)
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - a schemathesis failure (group): recorded
                key = (operation.label, type(exc).__name__, str(exc).splitlines()[0][:120] if str(exc) else "")
                if key not in failures:
                    failures[key] = f"{operation.label} [{mode.value}]\n{str(exc)[:1500]}\n" \
                                    f"reproduce: {case.as_curl_command(headers=h)}"

    try:
        run()
    except Unsatisfiable:
        if mode is GenerationMode.POSITIVE:
            raise  # negative mode: the operation has no input that can be made invalid
    finally:
        session.close()
    return calls


@pytest.mark.parametrize("service", SERVICES)
def test_no_server_error_and_responses_match_the_schema(service, api_schema, fuzz_platform, identities):
    failures: dict = {}
    statuses: Counter = Counter()
    calls = 0
    operations = [r.ok() for r in api_schema.get_all_operations()]
    mine = [op for op in operations if op.path.startswith(f"/api/v1/{service}")
            and (op.method.upper(), op.path) not in EXCLUDED]
    assert mine, f"no operation of {service} in the gateway's OpenAPI document"
    for op in mine:
        headers = [identities["member"], *([identities["operator"]] if privileged(op) else [])]
        for mode, examples in ((GenerationMode.POSITIVE, EXAMPLES), (GenerationMode.NEGATIVE, max(1, EXAMPLES // 2))):
            calls += fuzz_operation(op, mode, examples, fuzz_platform.gateway_url, headers, failures,
                                    statuses)
        known = {p["name"]: identities["ids"][p["name"]] for p in op.definition.raw.get("parameters", [])
                 if p.get("in") == "path" and p["name"] in identities["ids"]}
        if known and len(known) == len([p for p in op.definition.raw.get("parameters", []) if p.get("in") == "path"]):
            calls += fuzz_operation(op, GenerationMode.POSITIVE, EXAMPLES, fuzz_platform.gateway_url, headers,
                                    failures, statuses, path_parameters=known)
    print(f"{service}: {len(mine)} operations, {calls} requests, {len(failures)} distinct failures; "
          f"statuses {dict(sorted(statuses.items()))}")
    assert not failures, "\n\n".join(failures.values())
