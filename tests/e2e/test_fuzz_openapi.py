"""Fuzz every operation of the platform's OpenAPI document through the gateway (schemathesis, issue 8).

The combined document the gateway serves (`/api/v1/openapi.json`, merged from every service) is loaded from a
private platform; each operation gets a bounded number of generated requests (derandomized: the same inputs
every run), authenticated as a member, and operator routes a second time as the operator. Checked on every
response: no 5xx, the body matches the documented schema for its status code, and the content type is the
documented one.

Stateful phase: schemathesis's state machine chains operations through the document's OpenAPI links (declared
for each creating operation in agora_devservers.openapi_merge, plus those schemathesis infers from the schemas): a
scenario starts with an operation without path parameters (create a question, an article, an event, a series, a
SIG, a resource; or list them) and follows what it returned (answer the question, vote on the answer, comment,
flag, hide; publish the event, open its registration, register, cancel...), a fresh member and the operator taking
turns; AGORA_FUZZ_STATEFUL_CALLS requests in all, with the same checks.

Excluded: `DELETE /api/v1/users/me` (would delete the fuzzing member, leaving every later request
unauthenticated); in the scenarios also suspending a user and setting a user's roles (the operator would suspend or
promote the member it meets). A failure prints schemathesis's reproduction (a curl command) in the test report.
"""

import itertools
import os
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone

import httpx
import hypothesis
import pytest
import requests
import schemathesis
import schemathesis.specs.openapi.stateful as openapi_stateful
from agora_devservers.stack import Stack
from e2e.conftest import FAST_HASHING
from e2e.helpers import Client, client_address
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Flaky, Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.engine.errors import is_inconsistent_replay
from schemathesis.specs.openapi.formats import STRING_FORMATS, unregister_string_format

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

EXAMPLES = int(os.environ.get("AGORA_FUZZ_EXAMPLES", "10"))
STATEFUL_CALLS = int(os.environ.get("AGORA_FUZZ_STATEFUL_CALLS", "3000"))  # requests in the stateful phase
STATEFUL_STEPS = 50  # steps per scenario (at most)
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
if os.environ.get("AGORA_FUZZ_STATUS_CODES"):  # also: every status code returned is documented (stricter)
    CHECKS.append(status_code_conformance)
PRIVILEGED_WORDS = ("operator", "moderator", "organiser")
EXCLUDED = {("DELETE", "/api/v1/users/me")}
# ... and, in the scenarios, what would end the member's part: the operator suspending it or changing its roles
# (both fuzzed above, on a bystander account)
STATEFUL_EXCLUDED = ("users-me-delete", "users-users-suspend", "users-users-set-roles")


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
    # the account operations on a user id act on (suspend, set roles...): not the fuzzing member, which would then be
    # refused everywhere for the rest of the run
    bystander = Client(fuzz_platform.gateway_url, 704).register("Fuzz Bystander",
                                                                 f"bystander.{uuid.uuid4().hex[:8]}@example.org")
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
           "sig_id": sig["id"], "event_id": event["id"], "user_id": bystander.id, "speaker_id": member.id}
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


def check_response(case, response, headers: dict, failures: dict, statuses: Counter, label: str) -> None:
    """Run the checks; record each distinct failure once (operation, check) with a reproduction."""
    statuses[response.status_code] += 1
    try:
        case.validate_response(response, checks=CHECKS)
    except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - a schemathesis failure (group): recorded
        key = (case.operation.label, type(exc).__name__, str(exc).splitlines()[0][:120] if str(exc) else "")
        if key not in failures:
            failures[key] = f"{case.operation.label} [{label}]\n{str(exc)[:1500]}\n" \
                            f"reproduce: {case.as_curl_command(headers=headers)}"


def fuzz_operation(operation, mode: GenerationMode, examples: int, base_url: str, headers: list[dict],
                   failures: dict, statuses: Counter, path_parameters: dict | None = None) -> int:
    """Run `examples` generated cases and check every response."""
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
            check_response(case, response, h, failures, statuses, mode.value)

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


# --- stateful phase --------------------------------------------------------------------------------------------

def scenario_roots(operation, node, produced_anywhere) -> bool:
    """Which operations start a scenario: those without path parameters (creations and listings). schemathesis's
    own choice leaves out every creation here: its dependency inference takes an optional `sig_id` or `event_id`
    in a request body for a resource that nothing produces (the responses' schemas are named `SigRead`,
    `EventRead`), so scenarios would only start from random ids that answer 404."""
    return operation.method in ("get", "post") and not operation.path_parameters


# Dates for the scenarios: within the range every date field accepts (2000-2200), so that events and series get
# created and the scenarios go on from them (Hypothesis's own dates span years 1-9999: almost all refused with a
# 422). The per-operation fuzz above keeps the unbounded ones.
SCENARIO_DATES = st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2199, 12, 30),
                              timezones=st.sampled_from([UTC, timezone(timedelta(hours=8))])).map(datetime.isoformat)


@pytest.fixture
def state_machine(api_schema):
    assert "date-time" not in STRING_FORMATS  # nothing else replaces the built-in one
    schemathesis.openapi.format("date-time", SCENARIO_DATES)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(openapi_stateful, "is_likely_root_transition", scenario_roots)
            machine = api_schema.exclude(operation_id=list(STATEFUL_EXCLUDED)).as_state_machine()
        creations = {"POST /api/v1/content/questions", "POST /api/v1/content/articles", "POST /api/v1/events"}
        assert creations <= machine._root_labels, sorted(machine._root_labels)
        links = machine._transitions.operations
        assert "PUT /api/v1/content/posts/{post_id}/vote" in {
            link.target.label for link in links["POST /api/v1/content/questions/{question_id}/answers"].outgoing}
        yield machine
    finally:
        unregister_string_format("date-time")


def test_stateful_scenarios_as_member_and_operator(state_machine, fuzz_platform, identities):
    """Scenarios of up to STATEFUL_STEPS linked calls until STATEFUL_CALLS requests were sent, each response checked
    like above. Operations for operators, moderators or organisers are called as the operator; on the others the
    member and the operator take turns (scenarios start alternately as either), so a scenario also crosses
    accounts: the member asks, the operator answers, the member votes on the answer; the operator creates, publishes
    and opens an event, the member registers. (`identities` seeds a published event open for registration, a
    question, an article.) The API's state changes between scenarios, so Hypothesis may find a replayed scenario
    inconsistent (Flaky): that run ends and the next seed starts another."""
    gateway = fuzz_platform.gateway_url
    # a fresh member: the operator's steps may suspend or demote whom they meet
    member = Client(gateway, 702).register("Stateful Fuzzer", f"stateful.{uuid.uuid4().hex[:8]}@example.org")
    operator = Client(gateway, 703).login(fuzz_platform.operator_email, fuzz_platform.operator_password)
    turns = (("member", member.headers()), ("operator", operator.headers()))
    failures: dict = {}
    statuses: Counter = Counter()
    answered: dict[tuple[str, str], Counter] = {}  # (identity, operation) -> statuses
    sessions: list[requests.Session] = []
    scenarios = 0

    class Scenario(state_machine):
        def setup(self) -> None:
            nonlocal scenarios
            self.turn = scenarios
            scenarios += 1

        def get_call_kwargs(self, case) -> dict:
            if privileged(case.operation):
                self.identity, self.headers = turns[1]
            else:
                self.identity, self.headers = turns[self.turn % 2]
                self.turn += 1
            if len(sessions) <= sum(statuses.values()) // 40:  # a fresh client address now and then: no 429s
                sessions.append(source_session(next(_addresses)))
            return {"base_url": gateway, "headers": self.headers, "session": sessions[-1]}

        def validate_response(self, response, case, additional_checks=None, **kwargs) -> None:
            answered.setdefault((self.identity, case.operation.label), Counter())[response.status_code] += 1
            check_response(case, response, self.headers, failures, statuses, f"stateful, as {self.identity}")

    runs = flaky = 0
    try:
        while sum(statuses.values()) < STATEFUL_CALLS:  # runs of 10 scenarios, until the budget is spent
            try:
                hypothesis.seed(runs)(Scenario).run(settings=settings(
                    max_examples=10, stateful_step_count=STATEFUL_STEPS, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck), phases=[Phase.generate]))
            except (Flaky, AssertionError) as exc:
                if isinstance(exc, AssertionError) and not is_inconsistent_replay(exc):
                    raise
                flaky += 1
            runs += 1
    finally:
        for session in sessions:
            session.close()
    succeeded = {op for (_, op), codes in answered.items() if any(200 <= code < 300 for code in codes)}
    print(f"stateful: {sum(statuses.values())} requests, {scenarios} scenarios in {runs} runs ({flaky} ended as "
          f"flaky), {len(succeeded)} operations answered 2xx; statuses {dict(sorted(statuses.items()))}")
    if os.environ.get("AGORA_FUZZ_VERBOSE"):
        print("\n".join(f"  as {who:<8} {op}: {dict(sorted(codes.items()))}" for (who, op), codes in sorted(answered.items())))
    assert not failures, "\n\n".join(failures.values())
