"""The points service against the real broker: rules, cap, reversals, windows, boards, titles, dead letters,
duplicates and replays."""

from datetime import timedelta

import pytest
from agora_common.events.community import AttendeeCheckedIn, CompetitionRanked, ExamPassed, Placing, SpeakerConfirmed
from agora_common.events.content import AnswerAccepted, ArticlePublished, PostDeleted, PostRestored, VoteRetracted
from agora_common.events.users import UserSuspended
from agora_common.topics import Topics
from agora_testing.events import read_events
from agora_testing.waiting import eventually
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

pytestmark = pytest.mark.servers("kafka", "redis")


async def test_default_rules_ledger_and_summary(agora_env, h):
    events = [
        h.upvote("v1", post="a1"),
        h.upvote("v2", post="q1", post_type="question", at=1),
        h.upvote("v3", post="a2", value=-1, at=2),
        h.wrap(AnswerAccepted(post_id="a1", author_id="alice", asker_id="bob"), at=3),
        h.wrap(ArticlePublished(post_id="ar1", author_id="alice", title="t", body="b", published_at=h.T0), at=4),
        h.wrap(AttendeeCheckedIn(event_id="e1", kind="meetup", registration_id="r1", user_id="carol",
                               checked_in_at=h.T0), at=5),
        h.wrap(ExamPassed(event_id="e2", kind="training", exam_id="x1", attempt_id="1", user_id="carol", score=9,
                        pass_mark=5), at=6),
        h.wrap(CompetitionRanked(event_id="e3", kind="competition", ranking=[
            Placing(user_id="dan", place=1), Placing(user_id="erin", place=2), Placing(user_id="carol", place=3)]),
            at=7),
        h.wrap(SpeakerConfirmed(event_id="e4", kind="meetup", user_id="dan"), at=8),
    ]
    await h.publish(agora_env, events)
    async with h.Running(agora_env) as client:
        body = await h.total_is(client, "alice", 10 + 5 - 2 + 15 + 20)
        assert body["rules_version"] == "v2"
        assert body["weekly"] == body["monthly"] == body["total"]
        await h.total_is(client, "bob", 2)
        await h.total_is(client, "carol", 5 + 30 + 20)
        await h.total_is(client, "dan", 90)
        await h.total_is(client, "v3", 0)  # -1 for the downvote, floored
        [cast] = (await client.get("/api/v1/points/users/v3/ledger")).json()["entries"]
        assert (cast["rule_id"], cast["base_points"], cast["floor_cut"]) == ("downvote_cast", -1, 1)
        ledger = (await client.get("/api/v1/points/users/alice/ledger", params={"limit": 3})).json()
        assert [e["rule_id"] for e in ledger["entries"]] == ["article_published", "answer_accepted",
                                                              "downvote_received"]
        assert ledger["entries"][0]["rule_description"] == "You published an article"
        assert ledger["entries"][0]["source_event_type"] == "ArticlePublished"
        assert ledger["entries"][0]["source_event_id"] == events[4].id
        rest = (await client.get("/api/v1/points/users/alice/ledger",
                                 params={"limit": 3, "cursor": ledger["next_cursor"]})).json()
        assert [e["rule_id"] for e in rest["entries"]] == ["question_upvoted", "answer_upvoted"]
        assert rest["next_cursor"] is None
        bad = await client.get("/api/v1/points/users/alice/ledger", params={"cursor": "nope"})
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_cursor"
        cache = (await client.get("/api/v1/points/status")).json()["state_cache"]
        assert 0 < cache["cached_mib"] < cache["budget_mib"] and cache["evictions"] == 0  # a few users: all held


async def test_cap_exemptions_and_reversal_giving_cap_back(agora_env, h):
    votes = [h.upvote(f"v{i}", post=f"p{i}", at=i) for i in range(21)]  # 210 points in one day
    accepted = h.wrap(AnswerAccepted(post_id="p0", author_id="alice", asker_id="bob"), at=30)
    await h.publish(agora_env, [*votes, accepted])
    async with h.Running(agora_env) as client:
        await h.total_is(client, "alice", 200 + 15)
        ledger = (await client.get("/api/v1/points/users/alice/ledger", params={"limit": 200})).json()
        assert sum(e["cap_cut"] for e in ledger["entries"]) == 10
        await h.publish(agora_env, [h.wrap(VoteRetracted(post_id="p3", post_type="answer", author_id="alice",
                                                     voter_id="v3", previous_value=1, score=0), at=40, version=2)])

        async def reversed_():
            ledger = (await client.get("/api/v1/points/users/alice/ledger", params={"limit": 200})).json()
            reversal = [e for e in ledger["entries"] if e["kind"] == "reversal"]
            assert len(reversal) == 1 and reversal[0]["reverses"] == f"{votes[3].id}:answer_upvoted"
            return ledger

        ledger = await eventually(reversed_)
        assert sum(e["cap_cut"] for e in ledger["entries"]) == 0  # the freed cap went to the capped vote
        await h.total_is(client, "alice", 200 + 15)
        metrics = (await client.get("/metrics")).text
        values = {line.split(" ")[0]: float(line.split(" ")[1]) for line in metrics.splitlines()
                  if line and not line.startswith("#")}
        assert values['agora_points_events_total{type="PostVoted"}'] >= 21
        assert values["agora_points_entries_total"] >= 23
        assert values["agora_points_cap_hits_total"] >= 1
        assert values["agora_points_processing_lag_seconds_count"] >= 1  # the live retraction
        assert any(k.startswith("agora_event_processing_lag_seconds_count") for k in values)


async def test_deleted_post_reversed_and_restored(agora_env, h):
    async with h.Running(agora_env) as client:
        await h.publish(agora_env, [h.upvote("v1", post="p1"), h.upvote("v2", post="p1", at=1)])
        await h.total_is(client, "alice", 20)
        await h.publish(agora_env, [h.wrap(PostDeleted(post_id="p1", post_type="answer", author_id="alice",
                                                   deleted_by="mod"), at=2, version=3)])
        await h.total_is(client, "alice", 0)
        await h.publish(agora_env, [h.wrap(PostRestored(post_id="p1", post_type="answer", author_id="alice",
                                                    restored_by="mod"), at=3, version=4)])
        await h.total_is(client, "alice", 20)


async def test_windows_tag_and_sig_boards_rank_and_suspension(agora_env, h):
    old = -60 * 24 * 40  # forty days ago: in all-time only
    await h.publish(agora_env, [
        h.upvote("v1", author="alice", post="p1", tags=["k8s"], sig="sig-x", at=old),
        h.upvote("v2", author="alice", post="p2", tags=["k8s"], at=1),
        h.upvote("v3", author="bob", post="p3", tags=["k8s", "db"], sig="sig-x", at=2),
        h.upvote("v4", author="carol", post="p4", tags=["db"], at=3),
        h.upvote("v5", author="dan", post="p5", post_type="question", tags=["db"], at=4),
    ])
    async with h.Running(agora_env) as client:
        await h.total_is(client, "dan", 5)

        async def board(**params):
            r = await client.get("/api/v1/points/leaderboards", params=params)
            assert r.status_code == 200, r.text
            return [(e["rank"], e["user_id"], e["points"]) for e in r.json()["entries"]]

        async def board_is(expected, **params):  # boards are written to Redis just after the totals change
            async def check():
                assert await board(**params) == expected

            await eventually(check, timeout=10)

        # competition ranking: tied members share a rank, the next one counts everybody ahead
        await board_is([(1, "alice", 20), (2, "bob", 10), (2, "carol", 10), (4, "dan", 5)])
        assert await board(window="weekly") == [(1, "alice", 10), (1, "bob", 10), (1, "carol", 10), (4, "dan", 5)]
        assert await board(scope="tag:k8s") == [(1, "alice", 20), (2, "bob", 10)]
        assert await board(scope="tag:db", window="monthly") == [(1, "bob", 10), (1, "carol", 10), (3, "dan", 5)]
        assert await board(scope="sig:sig-x") == [(1, "alice", 10), (1, "bob", 10)]
        assert await board(limit=2) == [(1, "alice", 20), (2, "bob", 10)]
        old_month = (h.T0 - timedelta(days=40)).strftime("%Y-%m")
        assert await board(window="monthly", period=old_month) == [(1, "alice", 10)]
        bad_period = await client.get("/api/v1/points/leaderboards", params={"window": "weekly", "period": "2026-13"})
        assert bad_period.status_code == 422 and bad_period.json()["error"]["code"] == "invalid_period"
        rank = (await client.get("/api/v1/points/users/carol/rank", params={"around": 1})).json()
        assert rank["rank"] == 2 and [n["user_id"] for n in rank["neighbours"]] == ["bob", "carol", "dan"]
        assert [n["rank"] for n in rank["neighbours"]] == [2, 2, 4] and rank["participants"] == 4
        bad = await client.get("/api/v1/points/leaderboards", params={"scope": "planet:mars"})
        assert bad.status_code == 422
        assert (await client.get("/api/v1/points/leaderboards", params={"window": "daily"})).status_code == 422
        as_of = (await client.get("/api/v1/points/users/alice/as-of",
                                  params={"time": (h.T0 - timedelta(days=1)).isoformat()})).json()
        assert as_of["total"] == 10
        await h.publish(agora_env, [h.wrap(UserSuspended(user_id="alice", moderator_id="m", reason="spam"), at=5)])

        async def alice_gone():
            assert await board() == [(1, "bob", 10), (1, "carol", 10), (3, "dan", 5)]

        await eventually(alice_gone)
        gone = await client.get("/api/v1/points/users/alice/rank")
        assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_ranked"


async def test_duplicates_and_restart_replay_do_not_double_count_and_titles_once(agora_env, h):
    votes = [h.upvote(f"v{i}", post=f"p{i}", at=i * 60 * 24) for i in range(52)]  # one a day: no cap, 520
    await h.publish(agora_env, votes + votes[:10])  # ten duplicates
    async with h.Running(agora_env) as client:
        await h.total_is(client, "alice", 520)
        await h.publish(agora_env, votes[10:20])  # redelivered while running
        check = (await client.post("/api/v1/points/replay-check", headers=h.auth(agora_env, "operator"))).json()
        assert check["identical"] is True and check["events_replayed"] == 52
    async with h.Running(agora_env) as client:  # a restart rebuilds from the log: same total
        await h.total_is(client, "alice", 520)
    topics = Topics(agora_env["topic_prefix"])
    titles = await read_events(agora_env["kafka_bootstrap"], topics.points, until=lambda es: len(es) >= 1,
                               timeout=5)
    assert [(e.type, e.data["title"], e.data["user_id"]) for e in titles] == [
        ("HonorTitleEarned", "Contributor", "alice")]


async def test_malformed_events_are_dead_lettered(agora_env, h):
    topics = Topics(agora_env["topic_prefix"])
    async with h.Running(agora_env) as client:
        raw = AIOKafkaProducer(bootstrap_servers=agora_env["kafka_bootstrap"])
        await raw.start()
        try:
            await raw.send_and_wait(topics.content, b"{not json", key=b"x")
            bad_payload = h.upvote("v1").model_copy(update={"data": {"post_id": "p1"}})
            await raw.send_and_wait(topics.content, bad_payload.to_bytes(), key=b"p1")
        finally:
            await raw.stop()
        await h.publish(agora_env, [h.upvote("v2", post="p2")])
        await h.total_is(client, "alice", 10)
    consumer = AIOKafkaConsumer(topics.dead_letter, bootstrap_servers=agora_env["kafka_bootstrap"],
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        records = []
        for _ in range(50):
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(batch)
            if len(records) >= 2:
                break
    finally:
        await consumer.stop()
    assert sorted(dict(r.headers)["x-agora-reason"].decode() for r in records) == [
        "invalid_payload", "malformed_envelope"]


async def test_what_if_scores_the_log_without_touching_live_figures(agora_env, h):
    await h.publish(agora_env, [h.upvote("v1", post="p1"), h.upvote("v2", author="bob", post="q1", post_type="question")])
    async with h.Running(agora_env) as client:
        await h.total_is(client, "bob", 5)
        op = {**h.auth(agora_env, "operator"), "Content-Type": "application/yaml"}
        rules = (await client.get("/api/v1/points/rules")).json()
        import yaml

        rules["version"] = "v2"
        for r in rules["rules"]:
            if r["id"] == "answer_upvoted":
                r["points"] = 25
        body = yaml.safe_dump(rules)
        denied = await client.post("/api/v1/points/what-if", content=body, headers=h.auth(agora_env, "member"))
        assert denied.status_code == 403
        r = await client.post("/api/v1/points/what-if", content=body,
                              headers=op)
        assert r.status_code == 200, r.text
        diff = r.json()
        assert diff["proposed_version"] == "v2" and diff["users_changed"] == 1
        assert diff["changes"][0] == {"user_id": "alice", "current": 10, "proposed": 25, "delta": 15,
                                      "titles_current": [], "titles_proposed": []}
        await h.total_is(client, "alice", 10)
        invalid = await client.post("/api/v1/points/what-if", content="rules: [oops",
                                    headers=op)
        assert invalid.status_code == 422 and invalid.json()["error"]["code"] == "invalid_rules"


async def test_board_rows_carry_display_names_and_titles(agora_env, h):
    from agora_common.events.users import ProfileUpdated, UserRegistered

    votes = [h.upvote(f"v{i}", author="alice", post=f"p{i}", at=i * 60 * 24) for i in range(52)]  # 520: Contributor
    await h.publish(agora_env, [
        h.wrap(UserRegistered(user_id="alice", display_name="Alice A.", registered_at=h.T0), at=-5),
        h.wrap(UserRegistered(user_id="bob", display_name="Bob", registered_at=h.T0), at=-5),
        *votes, h.upvote("w1", author="bob", post="b1"),
    ])
    async with h.Running(agora_env) as client:
        await h.total_is(client, "alice", 520)

        async def rows():
            r = await client.get("/api/v1/points/leaderboards")
            assert r.status_code == 200, r.text
            got = [(e["user_id"], e["display_name"], e["titles"]) for e in r.json()["entries"]]
            assert got == [("alice", "Alice A.", ["Contributor"]), ("bob", "Bob", [])], got

        await eventually(rows, timeout=15)
        await h.publish(agora_env, [h.wrap(ProfileUpdated(user_id="bob", display_name="Robert"), at=5)])

        async def renamed():
            rank = (await client.get("/api/v1/points/users/bob/rank", params={"around": 1})).json()
            assert [n["display_name"] for n in rank["neighbours"]] == ["Alice A.", "Robert"], rank

        await eventually(renamed, timeout=15)


async def test_dates_out_of_range_are_a_clear_422(agora_env, h):
    async with h.Running(agora_env) as client:
        for params in ({"window": "monthly", "period": "9999-12"}, {"window": "weekly", "period": "1999-W52"}):
            r = await client.get("/api/v1/points/leaderboards", params=params)
            assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_period", r.text
            assert "between 2000 and 2200" in r.json()["error"]["message"]
            r = await client.get("/api/v1/points/users/alice/rank", params=params)
            assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_period", r.text
        ok = await client.get("/api/v1/points/leaderboards", params={"window": "monthly", "period": "2200-12"})
        assert ok.status_code == 200 and ok.json()["entries"] == []
        for time in ("9999-12-31T00:00:00Z", "1970-01-01T00:00:00Z"):
            r = await client.get("/api/v1/points/users/alice/as-of", params={"time": time})
            assert r.status_code == 422 and "2200-12-31" in r.text, r.text


async def test_what_if_shows_what_the_rule_for_answering_during_a_qa_session_gives(agora_env, h):
    """v2 added answered_during_event: what-if with v1 against the live v2 shows exactly that rule's points."""
    from agora_common.events.content import AnswerPosted
    from agora_points.domain.rules import DEFAULT_RULES_FILE

    def answer(author, post, during):
        return h.wrap(AnswerPosted(post_id=post, post_type="answer", author_id=author, question_id="q1",
                                   question_author_id="asker", body="...", created_at=h.T0, event_id="qa1",
                                   during_event=during))

    await h.publish(agora_env, [answer("alice", "a1", True), answer("bob", "a2", False)])
    async with h.Running(agora_env) as client:
        await h.total_is(client, "alice", 5)
        r = await client.post("/api/v1/points/what-if", content=(DEFAULT_RULES_FILE.parent / "rules-v1.yaml").read_text(),
                              headers={**h.auth(agora_env, "operator"), "Content-Type": "application/yaml"})
        assert r.status_code == 200, r.text
        diff = r.json()
        assert diff["current_version"] == "v2" and diff["proposed_version"] == "v1"
        assert diff["changes"] == [{"user_id": "alice", "current": 5, "proposed": 0, "delta": -5,
                                    "titles_current": [], "titles_proposed": []}]
        assert {"rule_id": "answered_during_event", "current": 5, "proposed": 0} in diff["by_rule"]
