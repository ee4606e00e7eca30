"""The engine's rules, cap, floor, reversals, windows and boards, and its order/duplicate independence."""

import random
from datetime import UTC, datetime, timedelta

from agora_common.events import Envelope
from agora_common.events.community import (
    AttendeeCheckedIn,
    CompetitionRanked,
    EventCancelled,
    ExamPassed,
    Placing,
    SpeakerConfirmed,
)
from agora_common.events.content import (
    AcceptanceRevoked,
    AnswerAccepted,
    ArticlePublished,
    ArticleUnpublished,
    PostDeleted,
    PostRestored,
    PostVoted,
    VoteRetracted,
)
from agora_common.events.users import UserDeleted, UserReinstated, UserSuspended
from agora_points.domain.book import ranking
from agora_points.domain.engine import Engine
from agora_points.domain.rules import DEFAULT_RULES_FILE, load_rules, parse_rules
from agora_points.service.decode import decode, relevant_types

RULES = load_rules()
RULES_DIR = DEFAULT_RULES_FILE.parent
T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)  # a Wednesday
_seq = iter(range(10**9))


def ev(payload, *, at: datetime | float = 0, subject: str = "s", version: int | None = None):
    when = at if isinstance(at, datetime) else T0 + timedelta(minutes=at)
    env = Envelope.wrap(payload, subject=subject, version=version or next(_seq) + 1, time=when)
    return decode(env.to_bytes(), relevant_types(RULES))


def vote(voter, author="alice", value=1, post="p1", post_type="answer", tags=(), sig=None, prev=0, at=0):
    return ev(PostVoted(post_id=post, post_type=post_type, author_id=author, tags=list(tags), sig_id=sig,
                        voter_id=voter, value=value, previous_value=prev, score=1), at=at, subject=post)


def run(*facts, rules=RULES) -> Engine:
    engine = Engine(rules)
    engine.apply(list(facts))
    return engine


def test_each_default_rule():
    e = run(
        vote("v1", post_type="answer"),
        vote("v2", post="q1", post_type="question"),
        vote("v3", post="a9", post_type="article"),
        vote("v4", post="p2", post_type="answer", value=-1),
        ev(AnswerAccepted(post_id="p3", author_id="alice", asker_id="bob")),
        ev(ArticlePublished(post_id="a1", author_id="alice", title="t", body="b", published_at=T0)),
        ev(AttendeeCheckedIn(event_id="e1", kind="meetup", registration_id="r", user_id="carol", checked_in_at=T0)),
        ev(ExamPassed(event_id="e2", kind="training", exam_id="x", attempt_id="1", user_id="carol", score=9,
                      pass_mark=5)),
        ev(CompetitionRanked(event_id="e3", kind="competition", ranking=[
            Placing(user_id="dan", place=1), Placing(user_id="erin", place=2), Placing(user_id="fay", place=3),
            Placing(user_id="gus", place=4)])),
        ev(SpeakerConfirmed(event_id="e4", kind="meetup", user_id="hal")),
    )
    # alice: +10 +5 +5 -2 +15 +20 ; bob +2 ; v4 cast a downvote -1 (floored at 0)
    assert e.total("alice") == 53
    assert e.total("bob") == 2
    assert e.total("v4") == 0
    [cast] = e.ordered("v4")  # the -1 for downvoting was applied, then cut by the floor
    assert (cast.award.rule.id, cast.base, cast.points) == ("downvote_cast", -1, 0)
    assert e.total("carol") == 35
    assert (e.total("dan"), e.total("erin"), e.total("fay"), e.total("gus")) == (50, 30, 20, 0)
    assert e.total("hal") == 40


def test_self_votes_and_anonymised_authors_score_nothing():
    e = run(vote("alice", author="alice"), vote("v1", author=None, post="p2"))
    assert e.totals() == {}


def test_daily_cap_with_exemptions_and_next_day():
    facts = [vote(f"v{i}", post=f"p{i}", at=i) for i in range(25)]  # 250 points of upvotes, one day
    facts.append(ev(AnswerAccepted(post_id="px", author_id="alice", asker_id="bob"), at=30))  # exempt +15
    facts.append(ev(ExamPassed(event_id="e", kind="training", exam_id="x", attempt_id="1", user_id="alice",
                               score=9, pass_mark=5), at=31))  # exempt +30
    facts.append(vote("w", post="next-day", at=24 * 60))  # the next UTC day: cap resets
    e = run(*facts)
    assert e.total("alice") == 200 + 15 + 30 + 10
    cut = [x for x in e.ordered("alice") if x.capped < x.base]
    assert len(cut) == 5


def test_reversal_gives_the_freed_cap_back():
    facts = [vote(f"v{i}", post=f"p{i}", at=i) for i in range(21)]  # 210: the last one is cut to 0
    e = run(*facts)
    assert e.total("alice") == 200
    e.apply([ev(VoteRetracted(post_id="p0", post_type="answer", author_id="alice", voter_id="v0",
                              previous_value=1, score=0), at=60, subject="p0")])
    assert e.total("alice") == 200  # the retracted +10 is gone, the capped one gets its 10 back
    kinds = sorted(x.kind for x in e.ordered("alice"))
    assert kinds.count("reversal") == 1


def test_a_late_event_recounts_what_it_changes_up_to_the_reversal_that_undoes_it():
    """Stage 2 counts a change from where it lands and stops at the first entry that comes out as before. A late
    upvote takes the cap from a vote that was retracted the next day: its retraction must give back 0 now, even
    though an entry between them came out as before."""
    day = 24 * 60
    facts = [vote(f"v{i}", post=f"p{i}", at=i) for i in range(1, 20)]  # 190
    facts.append(vote("va", post="pa", at=20))  # +10, the last of the day's cap
    facts.append(vote("vb", post="pb", value=-1, at=day + 1))  # -2 the next day
    facts.append(ev(VoteRetracted(post_id="pa", post_type="answer", author_id="alice", voter_id="va",
                                  previous_value=1, score=0), at=day + 2, subject="pa"))
    e = run(*facts)
    assert e.total("alice") == 200 - 2 - 10
    e.apply([vote("late", post="p0", at=0)])  # takes the day's cap before pa's vote: that one now gave 0
    assert e.total("alice") == 200 - 2
    assert [x.points for x in e.ordered("alice") if x.kind == "reversal"] == [0]


def test_vote_changed_then_retracted():
    up = vote("v1", at=0)
    down = vote("v1", value=-1, prev=1, at=1)
    gone = ev(VoteRetracted(post_id="p1", post_type="answer", author_id="alice", voter_id="v1",
                            previous_value=-1, score=0), at=2, subject="p1")
    other = vote("v2", post="p9", at=-5)
    e = run(other, up)
    assert e.total("alice") == 20
    e.apply([down])
    assert e.total("alice") == 8  # +10 reversed, -2 for the downvote
    assert e.total("v1") == 0  # -1 for casting a downvote, floored
    e.apply([gone])
    assert e.total("alice") == 10
    assert e.total("v1") == 0  # undoing a floored -1 gives back nothing
    reversal = [x for x in e.ordered("alice") if x.kind == "reversal"]
    assert {x.reverses[0] for x in reversal} == {up.id, down.id}


def test_acceptance_revoked_and_reaccepted():
    acc = ev(AnswerAccepted(post_id="a1", author_id="alice", asker_id="bob"), at=0)
    rev = ev(AcceptanceRevoked(post_id="a1", author_id="alice", asker_id="bob"), at=1)
    again = ev(AnswerAccepted(post_id="a1", author_id="alice", asker_id="bob"), at=2)
    e = run(acc, rev)
    assert (e.total("alice"), e.total("bob")) == (0, 0)
    e.apply([again])
    assert (e.total("alice"), e.total("bob")) == (15, 2)


def test_post_deleted_and_restored_and_article_unpublished():
    pub = ev(ArticlePublished(post_id="a1", author_id="alice", title="t", body="b", published_at=T0), at=0)
    up = vote("v1", post="a1", post_type="article", at=1)
    dele = ev(PostDeleted(post_id="a1", post_type="article", author_id="alice", deleted_by="mod"), at=2)
    rest = ev(PostRestored(post_id="a1", post_type="article", author_id="alice", restored_by="mod"), at=3)
    unpub = ev(ArticleUnpublished(post_id="a1", author_id="alice"), at=4)
    e = run(pub, up, dele)
    assert e.total("alice") == 0
    e.apply([rest])
    assert e.total("alice") == 25
    e.apply([unpub])
    assert e.total("alice") == 5


def test_cancelled_event_reverses_speaker_award():
    e = run(ev(SpeakerConfirmed(event_id="e1", kind="meetup", user_id="hal"), at=0),
            ev(EventCancelled(event_id="e1", kind="meetup"), at=5))
    assert e.total("hal") == 0
    assert [x.kind for x in e.ordered("hal")] == ["award", "reversal"]


def test_floor_keeps_points_at_zero_and_later_awards_count_fully():
    e = run(vote("v1", value=-1, at=0), vote("v2", value=-1, post="p2", at=1), vote("v3", post="p3", at=2))
    assert e.total("alice") == 10
    assert [x.points for x in e.ordered("alice")] == [0, 0, 10]


def test_once_per_exam_and_checkin():
    passed = [ev(ExamPassed(event_id="e", kind="training", exam_id="x", attempt_id=str(i), user_id="c",
                            score=9, pass_mark=5), at=i) for i in range(3)]
    e = run(passed[2], passed[1])
    e.apply([passed[0]])  # an earlier attempt arriving late replaces the winner: still one award
    assert e.total("c") == 30
    assert [x.source_event_id for x in e.ordered("c")] == [passed[0].id]


def test_duplicates_and_any_order_give_the_same_ledger():
    rng = random.Random(7)
    facts = []
    for i in range(400):
        post = f"p{rng.randrange(30)}"
        author = f"a{int(post[1:]) % 7}"
        voter = f"v{rng.randrange(12)}"
        kind = rng.random()
        if kind < 0.7:
            facts.append(vote(voter, author=author, post=post, value=rng.choice([1, 1, -1]), at=i * 7,
                              tags=["k8s"] if int(post[1:]) % 2 else ["db"]))
        elif kind < 0.8:
            facts.append(ev(VoteRetracted(post_id=post, post_type="answer", author_id=author, voter_id=voter,
                                          previous_value=1, score=0), at=i * 7, subject=post))
        elif kind < 0.9:
            facts.append(ev(PostDeleted(post_id=post, post_type="answer", author_id=author, deleted_by="m"),
                            at=i * 7, subject=post))
        else:
            facts.append(ev(PostRestored(post_id=post, post_type="answer", author_id=author, restored_by="m"),
                            at=i * 7, subject=post))
    reference = run(*facts)
    shuffled = facts + facts[:100]
    rng.shuffle(shuffled)
    other = Engine(RULES)
    for i in range(0, len(shuffled), 37):
        other.apply(shuffled[i:i + 37])
    assert other.totals() == reference.totals()
    assert sum(reference.totals().values()) > 0
    other_boards = other.boards()
    for key, board in reference.boards().items():
        assert other_boards[key] == board, key
    for user in reference.ledgers:
        got = {(x.key, x.points) for x in other.ordered(user)}
        assert got == {(x.key, x.points) for x in reference.ordered(user)}


def test_windows_tags_sigs_and_competition_ranking_excluding_suspended():
    last_month = datetime(2026, 10, 30, 12, tzinfo=UTC)
    e = run(
        vote("v1", author="alice", post="p1", tags=["k8s"], sig="sig-a", at=last_month),
        vote("v2", author="alice", post="p2", tags=["k8s", "db"], at=0),
        vote("v3", author="bob", post="p3", tags=["db"], sig="sig-a", at=1),
        vote("v4", author="carol", post="p4", tags=["db"], at=2),
        vote("v5", author="dan", post="p5", post_type="question", at=3),
    )
    assert ranking(e.boards()[("global", "all")], set()) == [
        (1, "alice", 20), (2, "bob", 10), (2, "carol", 10), (4, "dan", 5)]
    assert e.boards()[("global", "m2026-11")]["alice"] == 10
    assert e.boards()[("global", "w2026-W48")] == {"alice": 10, "bob": 10, "carol": 10, "dan": 5}
    assert e.boards()[("tag:k8s", "all")] == {"alice": 20}
    assert e.boards()[("tag:db", "all")] == {"alice": 10, "bob": 10, "carol": 10}
    assert e.boards()[("sig:sig-a", "all")] == {"alice": 10, "bob": 10}
    e.apply([ev(UserSuspended(user_id="bob", moderator_id="m", reason="spam"), at=9, subject="bob"),
             ev(UserDeleted(user_id="dan"), at=9, subject="dan")])
    assert ranking(e.boards()[("global", "all")], e.excluded) == [(1, "alice", 20), (2, "carol", 10)]
    e.apply([ev(UserReinstated(user_id="bob", moderator_id="m"), at=10, subject="bob")])
    assert [u for _, u, _ in ranking(e.boards()[("global", "all")], e.excluded)] == ["alice", "bob", "carol"]


def test_board_changes_name_every_touched_cell_with_its_current_points():
    e = run(vote("v1", author="alice", post="p1", tags=["k8s"], at=0))
    assert e.take_board_changes() == {}  # not tracking yet: the start-up replay writes whole boards instead
    e.tracking = True
    e.apply([vote("v2", author="alice", post="p1", tags=["k8s"], at=1)])
    changes = e.take_board_changes()
    assert {scope for scope, _ in changes} == {"global", "tag:k8s"} and len(changes) == 6  # x all, month, week
    assert all(members == {"alice": 20} for members in changes.values())
    assert e.take_board_changes() == {}  # taken
    e.apply([ev(UserSuspended(user_id="alice", moderator_id="m", reason="spam"), at=2, subject="alice")])
    off = e.take_board_changes()  # suspended: off every board she is on
    assert len(off) == 6 and all(members == {"alice": 0} for members in off.values())
    e.apply([ev(UserReinstated(user_id="alice", moderator_id="m"), at=3, subject="alice")])
    back = e.take_board_changes()
    assert len(back) == 6 and all(members == {"alice": 20} for members in back.values())


def test_as_of_counts_only_what_had_happened():
    up = vote("v1", at=0)
    gone = ev(VoteRetracted(post_id="p1", post_type="answer", author_id="alice", voter_id="v1", previous_value=1,
                            score=0), at=10, subject="p1")
    e = run(up, gone, vote("v2", post="p2", at=20))
    def t(m):
        return int((T0 + timedelta(minutes=m)).timestamp() * 1e6)
    assert [e.as_of("alice", t(m))[0] for m in (-1, 5, 15, 25)] == [0, 10, 0, 10]
    assert e.total("alice") == 10


def test_other_rules_score_differently():
    text = (RULES.model_dump_json())
    import json
    doc = json.loads(text)
    doc["version"] = "v2"
    doc["daily_cap"] = None
    for r in doc["rules"]:
        if r["id"] == "answer_upvoted":
            r["points"] = 20
    import yaml
    v2 = parse_rules(yaml.safe_dump(doc))
    facts = [vote(f"v{i}", post=f"p{i}", at=i) for i in range(15)]
    assert run(*facts).total("alice") == 150
    assert run(*facts, rules=v2).total("alice") == 300


def test_hiding_a_post_by_moderation_takes_its_awards_back_until_it_is_unhidden():
    """Defect: a post hidden by moderation kept its awards."""
    from agora_common.events.content import PostHidden, PostUnhidden

    upvote = vote("v1", post="p7", post_type="answer")
    hidden = ev(PostHidden(post_id="p7", post_type="answer", author_id="alice", moderator_id="m", reason="spam"),
                at=5, subject="p7")
    assert run(upvote).total("alice") == 10
    assert run(upvote, hidden).total("alice") == 0
    unhidden = ev(PostUnhidden(post_id="p7", post_type="answer", author_id="alice", moderator_id="m"), at=9,
                  subject="p7")
    assert run(upvote, hidden, unhidden).total("alice") == 10
    # deleted and hidden are separate switches: restoring a hidden post does not bring its points back
    deleted = ev(PostDeleted(post_id="p7", post_type="answer", author_id="alice", deleted_by="alice"), at=6,
                 subject="p7")
    restored = ev(PostRestored(post_id="p7", post_type="answer", author_id="alice", restored_by="alice"), at=7,
                  subject="p7")
    assert run(upvote, hidden, deleted, restored).total("alice") == 0


def test_deleting_a_question_takes_back_what_its_answers_earned():
    """Defect: deleting a question left its accepted answer's +15 and the asker's +2."""
    accepted = ev(AnswerAccepted(post_id="a1", author_id="alice", asker_id="bob", question_id="q1"), subject="a1")
    answer_vote = ev(PostVoted(post_id="a1", post_type="answer", author_id="alice", voter_id="v1", value=1,
                               previous_value=0, score=1, question_id="q1"), at=1, subject="a1")
    before = run(accepted, answer_vote)
    assert (before.total("alice"), before.total("bob")) == (25, 2)
    gone = ev(PostDeleted(post_id="q1", post_type="question", author_id="bob", deleted_by="bob"), at=5, subject="q1")
    after = run(accepted, answer_vote, gone)
    assert (after.total("alice"), after.total("bob")) == (0, 0)
    back = ev(PostRestored(post_id="q1", post_type="question", author_id="bob", restored_by="bob"), at=8,
              subject="q1")
    restored = run(accepted, answer_vote, gone, back)
    assert (restored.total("alice"), restored.total("bob")) == (25, 2)


def test_no_points_from_nothing_at_the_floor():
    """Defect: +10 upvote, five -2 downvotes (total 0), the upvote retracted (its reversal cut by the floor), the
    downvotes retracted: the author kept +10 although every vote was gone."""
    up = vote("u", value=1, at=0)
    downs = [vote(f"d{i}", value=-1, at=1 + i) for i in range(5)]
    up_gone = ev(VoteRetracted(post_id="p1", post_type="answer", author_id="alice", voter_id="u", previous_value=1,
                               score=-5), at=10, subject="p1")
    downs_gone = [ev(VoteRetracted(post_id="p1", post_type="answer", author_id="alice", voter_id=f"d{i}",
                                   previous_value=-1, score=0), at=20 + i, subject="p1") for i in range(5)]
    assert run(up, *downs).total("alice") == 0
    assert run(up, *downs, up_gone).total("alice") == 0
    assert run(up, *downs, up_gone, *downs_gone).total("alice") == 0
    # what the floor forgave is repaid only by give-backs: a new award counts at once, as without the debt
    later = vote("late", value=1, at=30)
    assert run(up, *downs, up_gone, later).total("alice") == 10
    assert run(up, *downs, up_gone, later, *downs_gone).total("alice") == 10
    # a penalty at the floor is simply lost (the usual floor): a later upvote counts in full
    assert run(vote("d", value=-1, at=0), vote("u2", value=1, at=1)).total("alice") == 10


def test_no_sequence_of_votes_and_retractions_leaves_more_than_the_votes_in_effect():
    """Whatever was cast and retracted on the way, the total is at most what the votes still in effect give
    (computed afresh, at their times, floor included), and never below the floor."""
    rng = random.Random(11)
    for _ in range(300):
        facts, current = [], {}
        for t in range(1, rng.randint(2, 15)):
            voter = f"v{rng.randint(1, 5)}"
            if voter in current and rng.random() < 0.4:
                previous = current.pop(voter)[0]
                facts.append(ev(VoteRetracted(post_id="p1", post_type="answer", author_id="alice", voter_id=voter,
                                              previous_value=previous, score=0), at=t, subject="p1"))
            else:
                value = rng.choice([1, -1])
                prev = current[voter][0] if voter in current else 0
                current[voter] = (value, t)
                facts.append(vote(voter, value=value, prev=prev, at=t))
        fresh = run(*[vote(voter, value=value, at=at) for voter, (value, at) in current.items()]).total("alice")
        total = run(*facts).total("alice")
        assert 0 <= total <= fresh, (total, fresh, current)


def answer(author="alice", asker="bob", post="a1", question="q1", event_id="qa1", during=True, at=0):
    from agora_common.events.content import AnswerPosted

    return ev(AnswerPosted(post_id=post, post_type="answer", author_id=author, question_id=question, tags=["k8s"],
                           body="...", question_author_id=asker, created_at=T0, event_id=event_id,
                           during_event=during), at=at, subject=post)


def test_answering_during_a_live_qa_session_earns_the_rule_and_deletion_takes_it_back():
    e = run(answer(), answer(author="carol", post="a2", during=False), answer(author="bob", post="a3"),
            answer(author="dave", post="a4", event_id=None, during=False))
    assert e.total("alice") == 5  # during the session
    assert e.total("carol") == 0  # after it ended (or before it went live)
    assert e.total("bob") == 0  # the asker answering their own question
    assert e.total("dave") == 0  # a question of no event
    assert [x.award.rule.id for x in e.ordered("alice")] == ["answered_during_event"]
    deleted = run(answer(), ev(PostDeleted(post_id="a1", post_type="answer", author_id="alice", question_id="q1",
                                           deleted_by="alice"), at=1, subject="a1"))
    assert deleted.total("alice") == 0


def test_the_rule_is_new_in_v2_and_v1_scores_no_answer():
    v1 = parse_rules((RULES_DIR / "rules-v1.yaml").read_text())
    assert RULES.version == "v2" and "answered_during_event" in {r.id for r in RULES.rules}
    assert run(answer(), rules=v1).total("alice") == 0
