from datetime import UTC, datetime

import pytest
from agora_common.events import EVENT_TYPES, BadEvent, Envelope
from agora_common.events.content import QuestionAsked


def _question() -> QuestionAsked:
    return QuestionAsked(
        post_id="q1", author_id="u1", tags=["kubesphere"], title="How?", body="...", created_at=datetime.now(UTC)
    )


def test_wrap_and_parse_round_trip():
    env = Envelope.wrap(_question(), subject="q1", version=1, actor="u1")
    back = Envelope.from_bytes(env.to_bytes())
    assert back == env
    assert back.type == "QuestionAsked" and back.source == "content"
    assert back.payload() == _question().model_copy(update={"created_at": back.payload().created_at})


def test_ids_sort_by_creation():
    ids = [Envelope.wrap(_question(), subject="q1", version=i + 1).id for i in range(50)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 50


def test_every_event_type_registered_once_with_a_source():
    assert "QuestionAsked" in EVENT_TYPES and "HonorTitleEarned" in EVENT_TYPES
    assert {cls.source for cls in EVENT_TYPES.values()} == {"content", "users", "events", "points"}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty"),
        (b"not json", "malformed_envelope"),
        (b'{"id": "x"}', "malformed_envelope"),
    ],
)
def test_malformed_bytes_are_bad_events(raw, reason):
    with pytest.raises(BadEvent) as info:
        Envelope.from_bytes(raw)
    assert info.value.reason == reason


def test_unknown_type_and_invalid_payload():
    env = Envelope.wrap(_question(), subject="q1", version=1)
    with pytest.raises(BadEvent) as info:
        env.model_copy(update={"type": "NoSuchEvent"}).payload()
    assert info.value.reason == "unknown_type"
    with pytest.raises(BadEvent) as info:
        env.model_copy(update={"data": {"post_id": "q1"}}).payload()
    assert info.value.reason == "invalid_payload"


def test_an_older_schema_version_is_upcast_and_a_newer_one_refused():
    current = Envelope.wrap(_question(), subject="q1", version=1)
    assert current.schema_version == QuestionAsked.schema_version == 2
    v1_data = {k: v for k, v in current.data.items() if k != "event_id"}  # as version 1 producers wrote it
    old = current.model_copy(update={"schema_version": 1, "data": v1_data})
    assert old.payload().event_id is None and old.payload().title == "How?"
    newer = current.model_copy(update={"schema_version": 3})
    with pytest.raises(BadEvent) as err:
        newer.payload()
    assert err.value.reason == "unsupported_schema_version"


def test_every_schema_version_below_the_current_one_has_an_upcaster():
    from agora_common.events.envelope import UPCASTERS

    for name, cls in EVENT_TYPES.items():
        for version in range(1, cls.schema_version):
            assert (name, version) in UPCASTERS, f"{name} v{version} -> v{version + 1} has no upcaster"


def test_instants_are_bounded_to_a_plannable_range():
    from agora_common.types import AnyInstant, Instant
    from pydantic import TypeAdapter, ValidationError

    instant, any_instant = TypeAdapter(Instant), TypeAdapter(AnyInstant)
    assert instant.validate_python("2030-03-05T12:00:00+08:00").year == 2030
    for bad in ("9999-12-31T00:00:00Z", "1970-01-01T00:00:00Z", "2030-03-05T12:00:00"):  # the last: no zone
        with pytest.raises(ValidationError):
            instant.validate_python(bad)
    assert any_instant.validate_python("2030-03-05").year == 2030  # a bare date is fine in a query filter
    with pytest.raises(ValidationError):
        any_instant.validate_python("9999-01-01")


def test_titles_published_before_scopes_read_as_titles_for_the_whole_community():
    from agora_common.events.users import HonorTitleGranted, HonorTitleRevoked

    for event in (HonorTitleGranted(user_id="u", title="Expert", granted_by="op", scope="tag:kafka"),
                  HonorTitleRevoked(user_id="u", title="Expert", revoked_by="op", scope="tag:kafka")):
        current = Envelope.wrap(event, subject="u", version=2)
        assert current.schema_version == 2 and current.payload().scope == "tag:kafka"
        v1 = {k: v for k, v in current.data.items() if k != "scope"}
        assert current.model_copy(update={"schema_version": 1, "data": v1}).payload().scope is None
