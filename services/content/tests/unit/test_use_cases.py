"""The content use cases on in-memory fakes (no servers): what each one writes and which events it emits, in
milliseconds. Transactions, conflicts and the outbox are the integration tests' part."""

import pytest
from agora_common.auth import Principal
from agora_common.errors import Forbidden
from agora_common.events import Envelope
from agora_common.events.users import UserSuspended
from agora_content.adapters.store import Store, ensure_indexes
from agora_content.service import expertise, posts, votes
from agora_content.service.members import handle_users_event
from agora_testing.fakes import FakeTransactions, memory_database

ALICE = Principal(id="alice", roles=["member"], name="Alice")
BOB = Principal(id="bob", roles=["member"], name="Bob")
CAROL = Principal(id="carol", roles=["member"], name="Carol")


@pytest.fixture
async def store() -> Store:
    db = memory_database()
    store = Store(db=db, transactions=FakeTransactions(db))
    await ensure_indexes(store)
    return store


async def ask(store: Store, key: str | None = None) -> dict:
    question, _ = await posts.ask_question(store=store, user=ALICE, title="How do I add storage?",
                                           body="Which class?", tags=["Storage"], sig_id=None, idempotency_key=key)
    return question


async def test_a_question_is_stored_with_clean_tags_and_announced(store):
    question = await ask(store)
    assert question["tags"] == ["storage"] and question["version"] == 1 and question["author_id"] == "alice"
    (event,) = store.transactions.published
    assert (event.type, event.subject, event.version, event.actor) == ("QuestionAsked", question["_id"], 1, "alice")
    assert event.payload().title == "How do I add storage?"


async def test_an_idempotency_key_creates_once(store):
    first = await ask(store, key="k1")
    again, replayed = await posts.ask_question(store=store, user=ALICE, title="How do I add storage?",
                                               body="Which class?", tags=["Storage"], sig_id=None,
                                               idempotency_key="k1")
    assert replayed and again["_id"] == first["_id"]
    assert store.transactions.types() == ["QuestionAsked"]


async def test_answer_accept_and_vote_raise_versions_and_emit_in_order(store):
    question = await ask(store)
    answer, _ = await posts.post_answer(store=store, user=BOB, question_id=question["_id"], body="Use OpenEBS.",
                                        idempotency_key=None)
    await votes.accept_answer(store=store, user=ALICE, question_id=question["_id"], answer_id=answer["_id"])
    _, score = await votes.cast_vote(store=store, user=ALICE, post_id=answer["_id"], value=1)
    assert score == 1
    assert store.transactions.types() == ["QuestionAsked", "AnswerPosted", "AnswerAccepted", "PostVoted"]
    on_answer = [e.version for e in store.transactions.published if e.subject == answer["_id"]]
    assert on_answer == sorted(on_answer) and len(set(on_answer)) == len(on_answer)  # versions never repeat
    with pytest.raises(Forbidden):
        await votes.cast_vote(store=store, user=BOB, post_id=answer["_id"], value=1)  # not on one's own post
    with pytest.raises(Forbidden):  # only the asker accepts
        await votes.accept_answer(store=store, user=BOB, question_id=question["_id"], answer_id=answer["_id"])


async def test_a_suspended_member_cannot_post(store):
    suspended = Envelope.wrap(UserSuspended(user_id="alice", reason="spam", moderator_id="mod", until=None),
                              subject="alice", version=2)
    await handle_users_event(suspended, store=store)
    with pytest.raises(Forbidden) as err:
        await ask(store)
    assert err.value.code == "account_suspended" and store.transactions.published == []


async def test_experts_follow_answers_acceptances_votes_and_deletions(store):
    question = await ask(store)
    answer, _ = await posts.post_answer(store=store, user=BOB, question_id=question["_id"], body="Use OpenEBS.",
                                        idempotency_key=None)
    await votes.accept_answer(store=store, user=ALICE, question_id=question["_id"], answer_id=answer["_id"])
    await votes.cast_vote(store=store, user=ALICE, post_id=answer["_id"], value=1)
    rows, cursor = await expertise.list_experts(store=store, tag="storage", sig=None, sort="accepted", limit=10,
                                                cursor=None)
    assert [(r["user_id"], r["answers"], r["accepted_answers"], r["answer_score"], r["first_answers"])
            for r in rows] == [("bob", 1, 1, 1, 1)] and cursor is None
    await posts.delete_post(store=store, user=BOB, post_id=answer["_id"])
    rows, _ = await expertise.list_experts(store=store, tag="storage", sig=None, sort="accepted", limit=10,
                                           cursor=None)
    assert rows == []


async def test_changes_of_one_answer_queue_behind_its_question_and_its_authors_expert_counts(store):
    """Units that would conflict in this process name the same keys (Transactions.run(one_at_a_time=...)): the
    answer, its question, the question's accepted answer, and the expert counts of each answer's author."""
    question = await ask(store)
    q, tx = question["_id"], store.transactions
    first, _ = await posts.post_answer(store=store, user=BOB, question_id=q, body="Use OpenEBS.", idempotency_key=None)
    assert tx.queued[-1] == sorted([f"post:{q}", "expert:bob"])
    second, _ = await posts.post_answer(store=store, user=CAROL, question_id=q, body="Use Ceph.", idempotency_key=None)
    a1, a2 = first["_id"], second["_id"]
    await votes.cast_vote(store=store, user=ALICE, post_id=a1, value=1)
    assert tx.queued[-1] == sorted([f"post:{a1}", f"post:{q}", "expert:bob"])
    await votes.accept_answer(store=store, user=ALICE, question_id=q, answer_id=a1)
    await votes.accept_answer(store=store, user=ALICE, question_id=q, answer_id=a2)  # moves it from bob's answer
    assert tx.queued[-1] == sorted([f"post:{a1}", f"post:{a2}", f"post:{q}", "expert:bob", "expert:carol"])
    await votes.cast_vote(store=store, user=BOB, post_id=q, value=1)
    assert tx.queued[-1] == sorted([f"post:{q}", f"post:{a2}", "expert:carol"])  # the question, and its accepted
