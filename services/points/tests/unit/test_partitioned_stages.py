"""The engine's two stages split the way a partitioned deployment splits them: stage 1 by root (thread, article,
community event, user), stage 2 by user, meeting only through award states and status facts, delivered late,
repeated and in any order between partitions. They must give exactly what the one-process engine gives."""

import random
import zlib

import orjson
import pytest
from agora_common.events.community import AttendeeCheckedIn, CompetitionRanked, EventCancelled, Placing
from agora_common.events.content import (
    AcceptanceRevoked,
    AnswerAccepted,
    PostDeleted,
    PostHidden,
    PostRestored,
    PostUnhidden,
    PostVoted,
    VoteRetracted,
)
from agora_common.events.users import UserReinstated, UserSuspended
from agora_points.adapters import state_codec
from agora_points.adapters.snapshots import Base, Loaded, decode_chunk, encode_chunk
from agora_points.adapters.state_codec import book_state, derivation_state
from agora_points.adapters.state_store import StateStore, sortable
from agora_points.adapters.wire import decode_batch, decode_fact, decode_stage, encode_batch, encode_fact, encode_stage
from agora_points.domain.book import Book
from agora_points.domain.derivation import Derivation
from agora_points.domain.engine import Engine
from agora_points.domain.model import AwardState, BatchResult, NameFact, StatusFact, root_of
from agora_points.domain.rules import load_rules
from agora_points.service.stages import Standbys, _reassign, export_state, load_state, note_no_changes
from aiokafka import TopicPartition

RULES = load_rules()


def _ev(payload, at, subject):
    from datetime import UTC, datetime, timedelta

    from agora_common.events import Envelope
    from agora_points.service.decode import decode, relevant_types

    env = Envelope.wrap(payload, subject=subject, version=1 + at, time=datetime(2026, 11, 2, tzinfo=UTC)
                        + timedelta(minutes=at * 13))
    return decode(env.to_bytes(), relevant_types(RULES))


def community(rng: random.Random, n: int) -> list:
    """Threads (questions with answers), community events and users, with votes, retractions, acceptances,
    deletions and moderation of questions and answers, check-ins, rankings, cancellations and suspensions."""
    users = [f"u{i}" for i in range(25)]
    facts = []
    for t in range(n):
        q = f"q{rng.randrange(12)}"
        answer = f"{q}-a{rng.randrange(3)}"
        author = users[zlib.crc32(answer.encode()) % len(users)]
        asker = users[zlib.crc32(q.encode()) % len(users)]
        voter = rng.choice(users)
        r = rng.random()
        on_answer = {"post_id": answer, "post_type": "answer", "author_id": author, "question_id": q,
                     "tags": [f"t{int(q[1:]) % 3}"]}
        if r < 0.45:
            post = rng.choice([on_answer, {"post_id": q, "post_type": "question", "author_id": asker, "tags": []}])
            facts.append(_ev(PostVoted(**post, voter_id=voter, value=rng.choice([1, 1, -1]), score=0), t, answer))
        elif r < 0.55:
            facts.append(_ev(VoteRetracted(**on_answer, voter_id=voter, previous_value=1, score=0), t, answer))
        elif r < 0.62:
            facts.append(_ev(AnswerAccepted(**on_answer, asker_id=asker), t, answer))
        elif r < 0.65:
            facts.append(_ev(AcceptanceRevoked(**on_answer, asker_id=asker), t, answer))
        elif r < 0.70:
            target = rng.choice([on_answer, {"post_id": q, "post_type": "question", "author_id": asker}])
            cls = rng.choice([PostDeleted, PostRestored])
            extra = {"deleted_by": "m"} if cls is PostDeleted else {"restored_by": "m"}
            facts.append(_ev(cls(**target, **extra), t, target["post_id"]))
        elif r < 0.74:
            target = rng.choice([on_answer, {"post_id": q, "post_type": "question", "author_id": asker}])
            cls = rng.choice([PostHidden, PostUnhidden])
            extra = {"reason": "spam"} if cls is PostHidden else {}
            facts.append(_ev(cls(**target, moderator_id="m", **extra), t, target["post_id"]))
        elif r < 0.85:
            event = f"e{rng.randrange(4)}"
            facts.append(_ev(AttendeeCheckedIn(event_id=event, kind="meetup", registration_id=f"r{t}", user_id=voter,
                                               checked_in_at=_now()), t, event))
        elif r < 0.90:
            event = f"e{rng.randrange(4)}"
            ranked = rng.sample(users, 3)
            facts.append(_ev(CompetitionRanked(event_id=event, kind="competition", ranking=[
                Placing(user_id=u, place=i + 1) for i, u in enumerate(ranked)]), t, event))
        elif r < 0.92:
            event = f"e{rng.randrange(4)}"
            facts.append(_ev(EventCancelled(event_id=event, kind="meetup", reason="rain"), t, event))
        else:
            user = rng.choice(users)
            cls = rng.choice([UserSuspended, UserReinstated])
            extra = {"reason": "spam"} if cls is UserSuspended else {}
            facts.append(_ev(cls(user_id=user, moderator_id="m", **extra), t, user))
    return [f for f in facts if f is not None]


def _now():
    from datetime import UTC, datetime

    return datetime(2026, 11, 2, tzinfo=UTC)


def run_split(facts: list, rng: random.Random, *, roots: int, users: int, batch: int,
              store: StateStore | None = None) -> list[Book]:
    """Stage-1 partitions by root, stage-2 partitions by user; what stage 1 emits reaches stage 2 in a random
    interleaving of partitions (order kept within a partition, as Kafka keeps it), some of it twice. With a store,
    each partition's state is a map of it, as in a worker."""
    derivations = [Derivation(RULES, _derivation_state(store, f"derive:{p}")) for p in range(roots)]
    books = [Book(RULES, _book_state(store, f"book:{p}")) for p in range(users)]
    inbound: list[list] = [[] for _ in range(users)]  # per stage-2 partition, in order

    def to_book(user: str):
        return zlib.crc32(user.encode()) % users

    shuffled = list(facts) + rng.sample(facts, len(facts) // 10)  # redeliveries
    rng.shuffle(shuffled)
    for i in range(0, len(shuffled), batch):
        by_root: dict[int, list] = {}
        for f in shuffled[i:i + batch]:
            by_root.setdefault(zlib.crc32(root_of(f).encode()) % roots, []).append(f)
        for p, part in by_root.items():
            states, statuses, names = derivations[p].admit(part, BatchResult())
            for s in states:
                inbound[to_book(s.user)].append(("state", s))
                if rng.random() < 0.1:
                    inbound[to_book(s.user)].append(("state", s))  # a producer retry
            for st in statuses:
                inbound[to_book(st.user)].append(("status", st))
            for name in names:
                inbound[to_book(name.user)].append(("name", name))
        for p in range(users):  # each stage-2 partition takes a random part of what is waiting for it
            take = rng.randint(0, len(inbound[p]))
            _deliver(books[p], inbound[p][:take])
            del inbound[p][:take]
    for p in range(users):
        _deliver(books[p], inbound[p])
    return books


def _derivation_state(store: StateStore | None, name: str):
    return None if store is None else derivation_state(store, name, RULES)


def _book_state(store: StateStore | None, name: str):
    return None if store is None else book_state(store, name, RULES)


def _deliver(book: Book, messages: list) -> None:
    book.apply([m for k, m in messages if k == "state"], [m for k, m in messages if k == "status"], BatchResult(),
               [m for k, m in messages if k == "name"])


def _fields(entry) -> tuple:
    return tuple(getattr(entry, name) for name in (
        "key", "sk", "kind", "base", "time_us", "source_event_id", "source_event_type", "reverses", "reversed",
        *(("exempt", "capped", "points", "used_after", "total_after", "debt_after") if hasattr(entry, "capped")
          else ())))


def test_both_stages_awards_come_back_from_their_bytes_exactly():
    """The award codecs leave out of each entry what its award names (state_codec._pack_entry): every award of a
    random community, and entries of unusual shapes (kept whole), come back field for field."""
    engine = Engine(RULES)
    engine.apply(community(random.Random(3), 600))
    book_codec, stage1_codec = state_codec.award_codec(RULES), state_codec.stage1_award_codec(RULES)
    awards = list(engine.book.awards.values())
    assert sum(len(a.entries) > 1 for a in awards) > 10  # reversals and re-grants among them
    odd = awards[0]
    for e in list(odd.entries.values())[:1]:  # another sort key, source, type and reversed entry
        e.sk, e.source_event_id, e.source_event_type = (e.time_us + 1, 7, "x", "y", "z"), "other", "OtherType"
        e.reverses = ("z", "w")
    for a in awards:
        back = book_codec.decode(book_codec.encode(a))
        assert (back.user, back.rule.id, back.scopes, back.event_id, back.event_type, back.exempt, back.revision) \
            == (a.user, a.rule.id, a.scopes, a.event_id, a.event_type, a.exempt, a.revision)
        assert {k: _fields(e) for k, e in back.entries.items()} == {k: _fields(e) for k, e in a.entries.items()}
        assert all(e.award is back for e in back.entries.values())
    for a in engine.derivation.awards.values():
        back = stage1_codec.decode(stage1_codec.encode(a))
        assert [_fields(s) for s in back.emitted] == [_fields(s) for s in a.emitted]
        assert back.emitted == a.emitted and back.chain == a.chain and back.toggles == a.toggles
    assert b'"OtherType"' in book_codec.encode(odd) and b'"other"' in book_codec.encode(odd)  # kept whole


def test_split_by_root_and_by_user_equals_the_one_process_engine():
    _split_equals_the_one_process_engine(None)


def test_split_with_the_state_on_disk_and_a_few_values_in_memory_equals_the_one_process_engine(tmp_path):
    """A worker's state map: RocksDB, and only the values used last decoded in memory. With room for 3 events,
    nearly every root and ledger a batch needs was evicted and is decoded again, across partitions sharing the
    one store."""
    store = StateStore(tmp_path / "state", cache_mib=0.005)  # 3 events' worth
    _split_equals_the_one_process_engine(store)
    assert store.evictions > 1000


def _split_equals_the_one_process_engine(store: StateStore | None) -> None:
    for seed in range(8):
        rng = random.Random(seed)
        facts = community(rng, 400)
        whole = Engine(RULES)
        whole.apply(facts)
        books = run_split(facts, rng, roots=rng.choice([2, 3, 5]), users=rng.choice([2, 4]),
                          batch=rng.choice([1, 7, 50]), store=store)
        totals = {}
        for book in books:
            assert not set(totals) & set(book.totals())  # each user lives in one stage-2 partition
            totals |= book.totals()
        assert totals == whole.totals(), seed
        assert sum(totals.values()) > 0
        for user in whole.ledgers:
            book = next(b for b in books if user in b.ledgers)
            got = [(x.key, x.kind, x.points, x.total_after) for x in book.ordered(user)]
            assert got == [(x.key, x.kind, x.points, x.total_after) for x in whole.ordered(user)], (seed, user)
            # counted again from nothing, in order, by as_of's plain loop: what stage 2 kept by counting each
            # change only from where it landed, and stopping where the counts came out as before
            total, recounted = book.as_of(user, 2**62)
            assert (book.total(user), got) == (total, [(x.key, x.kind, x.points, x.total_after) for x in recounted])
        merged: dict = {}
        for book in books:
            for key, members in book.board_state():
                merged.setdefault(key, {}).update({u: p for u, p in members.items() if p})
        assert {k: m for k, m in merged.items() if m} == {
            k: {u: p for u, p in m.items() if p} for k, m in whole.board_state() if any(m.values())}
        assert set().union(*(b.excluded for b in books)) == whole.excluded


def test_an_older_award_state_never_replaces_a_newer_one():
    rng = random.Random(3)
    facts = community(rng, 200)
    derivation, states = Derivation(RULES), []
    for f in facts:
        states += derivation.admit([f], BatchResult())[0]
    forward, backward = Book(RULES), Book(RULES)
    forward.apply(states, [], BatchResult())
    for s in reversed(states):  # newest first: every older state that follows is ignored
        backward.apply([s], [], BatchResult())
    assert forward.totals() == backward.totals() and sum(forward.totals().values()) > 0


def _through_the_wire(states, statuses, names) -> list:
    """What stage 2 reads back from the award-state topic."""
    return [(kind, decode_stage(item)) for kind, ms in (("status", statuses), ("name", names), ("state", states))
            for item in decode_batch(encode_batch([encode_stage(m) for m in ms]))]


def test_a_moved_stage_1_partition_restored_from_its_facts_goes_on_where_the_old_owner_stopped():
    """A worker that takes a stage-1 partition over replays its facts in one batch, without sending (the old owner
    sent those states), then goes on. The states it sends next must be ones stage 2 takes as newer: revisions are
    the stage's fact count, the same however the facts were batched. Facts and states go through the wire."""
    for seed in range(4):
        rng = random.Random(seed)
        facts = [decode_fact(item) for item in decode_batch(encode_batch([encode_fact(f) for f in community(rng, 600)]))]
        cut = 350
        old, book = Derivation(RULES), Book(RULES)
        for i in range(0, cut, 7):  # the old owner: small live batches
            _deliver(book, _through_the_wire(*old.admit(facts[i:i + 7], BatchResult())))
        new = Derivation(RULES)
        new.admit(facts[:cut], BatchResult())  # the restore
        assert new.clock == old.clock
        for i in range(cut, len(facts), 11):
            _deliver(book, _through_the_wire(*new.admit(facts[i:i + 11], BatchResult())))
        whole = Engine(RULES)
        whole.apply(facts)
        assert book.totals() == whole.totals() and sum(whole.totals().values()) > 0, seed
        assert book.excluded == whole.excluded


@pytest.mark.parametrize("on_disk", [False, True])
def test_state_kept_whole_when_the_partitioning_changes_goes_on_exactly(on_disk, tmp_path):
    """A broker that came back empty may create the service's topics with another partition count: the worker
    then merges what it holds per partition into one derivation and one book and goes on. The result must be what
    the one-process engine gives, and the merged clock must stamp revisions stage 2 takes as newer."""
    store = StateStore(tmp_path / "state", cache_mib=0.005) if on_disk else None
    rng = random.Random(11)
    facts = community(rng, 500)
    cut = 300
    roots = [Derivation(RULES, _derivation_state(store, f"derive:{p}")) for p in range(3)]
    books = [Book(RULES, _book_state(store, f"book:{p}")) for p in range(2)]
    for i in range(0, cut, 9):
        for f in facts[i:i + 9]:
            d = roots[zlib.crc32(root_of(f).encode()) % 3]
            for kind, m in _through_the_wire(*d.admit([f], BatchResult())):
                _deliver(books[zlib.crc32(m.user.encode()) % 2], [(kind, m)])
    derivation = Derivation.merged(roots, _derivation_state(store, "derive:merged"))
    book = Book.merged(books, _book_state(store, "book:merged"))
    if store is not None:  # what was merged from is dropped
        for old in (*roots, *books):
            old.clear()
        assert {k.split(b"\x00")[0].split(b":")[1] for k in store.db.keys()} == {b"merged"}  # noqa: SIM118
    for i in range(cut, len(facts), 9):
        _deliver(book, _through_the_wire(*derivation.admit(facts[i:i + 9], BatchResult())))
    whole = Engine(RULES)
    whole.apply(facts)
    assert book.totals() == whole.totals() and sum(whole.totals().values()) > 0
    assert book.excluded == whole.excluded
    assert {k: m for k, m in book.board_state() if m} == {k: m for k, m in whole.board_state() if m}


# ---- a partition's state through a snapshot (adapters/snapshots.py's chunks, without the broker) ----------

def test_an_export_reads_the_store_as_it_was_when_taken(tmp_path):
    store = StateStore(tmp_path / "state", cache_mib=1)
    values = store.map("a", state_codec._json_codec(len))
    for i in range(1000):
        store.db.put(b"a\x00%04d" % i, b"old")
    pairs = store.export([values])
    store.db.put(b"a\x000000", b"changed")  # what the stage writes while the snapshot is being written
    store.db.delete(b"a\x000001")
    store.db.put(b"a\x00zzzz", b"new")
    store.db.flush()
    assert list(pairs) == [(b"a\x00%04d" % i, b"old") for i in range(1000)]


def test_an_export_of_changes_holds_what_changed_since_the_last_one_deletions_included(tmp_path):
    store = StateStore(tmp_path / "state", cache_mib=0.01)
    values = store.map("m:0", state_codec._json_codec(len))
    index = store.index("m:0:index")
    for i in range(300):
        values[f"k{i}"] = {"n": i}
        index.put(f"u{i % 7}", (i,), (f"k{i}",))
    store.settle()
    whole = list(store.export([values, index]))  # from here on they note what changes
    assert values.noting and index.noting
    values.get("k5")["n"] = -5  # changed in place, as the engine does
    values["new"] = {"n": 1}
    index.delete("u3", (3,))
    store.settle()
    changes = store.export([values, index], changes_only=True)
    values.get("k6")["n"] = -6  # after the export: in the next one, not this
    store.settle()
    changes = list(changes)
    assert sorted(k for k, _ in changes) == sorted([values.prefix + b"k5", values.prefix + b"new",
                                                    index.prefix + b"u3\x00" + sortable((3,))])
    assert (index.prefix + b"u3\x00" + sortable((3,)), None) in changes  # the deletion travels
    fresh = StateStore(tmp_path / "fresh", cache_mib=0.01)
    fresh.load(whole)
    fresh.load(changes)
    fresh.load(store.export([values, index], changes_only=True))  # k6
    store.export([values, index])  # writes out what is decoded in memory
    state = {k: v for k, v in store.db.items() if not k.startswith(b"\x7f")}  # not the change marks
    assert dict(fresh.db.items()) == state


def test_an_export_writes_out_the_values_changed_in_memory_since_the_last_one(tmp_path):
    """Values stay decoded (a cache big enough for all) and are changed in place: each export holds them as they
    are, though it writes out only those changed since the one before."""
    store = StateStore(tmp_path / "state", cache_mib=10)
    values = store.map("m:0", state_codec._json_codec(len))
    other = store.map("m:1", state_codec._json_codec(len))  # another partition's: not in this export
    for i in range(50):
        values[f"k{i:02d}"] = {"n": i}
        other[f"k{i:02d}"] = {"n": i}
    store.settle()
    codec = state_codec._json_codec(len)

    def decoded(pairs):
        return {k[len(values.prefix):].decode(): codec.decode(v) for k, v in pairs}

    assert decoded(store.export([values])) == {f"k{i:02d}": {"n": i} for i in range(50)}
    values.get("k03")["n"] = -3
    other.get("k04")["n"] = -4
    store.settle()
    assert decoded(store.export([values], changes_only=True)) == {"k03": {"n": -3}}
    values.get("k05")["n"] = -5
    store.settle()
    assert decoded(store.export([values])) == {f"k{i:02d}": {"n": -i if i in (3, 5) else i} for i in range(50)}
    assert store.db.get(other.prefix + b"k04") is None  # another partition's: still only in memory
    assert decoded(store.export([other]))["k04"] == {"n": -4}


def test_an_export_of_changes_finds_each_changed_key_however_far_apart(tmp_path):
    """The export steps through the values beside the sorted markers and seeks past long runs of unchanged keys:
    neighbours, short gaps, long gaps, deletions (the first, mid-run, the last) all come out right."""
    store = StateStore(tmp_path / "state", cache_mib=0.01)
    index = store.index("m:0:index")
    for i in range(200):
        index.put("u", (i,), (f"e{i}",))
    list(store.export([index]))
    changed = [1, 2, 3, 5, 9, 30, 31, 100, *range(150, 156), 197]
    deleted = [0, 40, 41, 199]
    for i in changed:
        index.put("u", (i,), (f"changed{i}",))
    for i in deleted:
        index.delete("u", (i,))
    got = dict(store.export([index], changes_only=True))
    assert {k: (orjson.loads(v) if v is not None else None) for k, v in got.items()} == {
        index.prefix + b"u\x00" + sortable((i,)): ([f"changed{i}"] if i in changed else None)
        for i in sorted(changed + deleted)}


def _feed(derivation: Derivation, book: Book, facts: list) -> list:
    """Both stages over facts in batches of 25, stage 1's messages through the wire as between workers."""
    sent = []
    for i in range(0, len(facts), 25):
        states, statuses, names = derivation.admit(facts[i:i + 25], BatchResult())
        wire = [decode_stage(x) for x in decode_batch(encode_batch([encode_stage(m) for m in
                                                                      [*statuses, *names, *states]]))]
        sent += wire
        book.apply([m for m in wire if isinstance(m, AwardState)], [m for m in wire if isinstance(m, StatusFact)],
                   BatchResult(), [m for m in wire if isinstance(m, NameFact)])
    return sent


def _load_into(store: StateStore, engine, exports: list[tuple[bytes, dict]]) -> None:
    """What load_state does with a chain of snapshots (the whole one first), without the broker."""
    for raw, _ in exports:
        assert store.load(decode_chunk(raw)) > 0
    meta = exports[-1][1]
    engine.load_meta(meta["engine"])
    for m in engine.state:
        m.note_changes(True)
        if hasattr(m, "loaded"):
            m.loaded(meta["counts"].get(m.prefix.decode(), 0))


def test_stages_loaded_from_snapshots_go_on_as_the_ones_they_were_taken_from(tmp_path):
    facts = community(random.Random(5), 1200)
    store = StateStore(tmp_path / "a", cache_mib=0.05)  # most values on disk, some decoded in memory
    derivation = Derivation(RULES, derivation_state(store, "derive:0", RULES))
    book = Book(RULES, book_state(store, "book:0", RULES))
    _feed(derivation, book, facts[:500])
    wholes = [export_state({0: engine}, 0, store, changes_only=True) for engine in (derivation, book)]
    assert all(e is not None and not e.changes_only for e in wholes)  # no changes counted yet: whole
    wholes_raw = [(encode_chunk(e.pairs), e.meta) for e in wholes]  # type: ignore[union-attr]
    _feed(derivation, book, facts[500:700])
    changes = [export_state({0: engine}, 0, store, changes_only=True) for engine in (derivation, book)]
    assert all(e is not None and e.changes_only for e in changes)
    taken = _feed(derivation, book, facts[700:900])  # the stage goes on while the snapshots are written
    changes_raw = [(encode_chunk(e.pairs), e.meta) for e in changes]  # type: ignore[union-attr]
    assert sum(len(raw) for raw, _ in changes_raw) < sum(len(raw) for raw, _ in wholes_raw)

    fresh = StateStore(tmp_path / "b", cache_mib=0.05)
    loaded = Derivation(RULES, derivation_state(fresh, "derive:0", RULES))
    loaded_book = Book(RULES, book_state(fresh, "book:0", RULES))
    for engine, whole, change in zip((loaded, loaded_book), wholes_raw, changes_raw, strict=True):
        _load_into(fresh, engine, [whole, change])
    # the input from the last snapshot's offset on: the same states, revisions included, as the stages it was
    # taken from
    assert _feed(loaded, loaded_book, facts[700:900]) == taken
    assert _feed(loaded, loaded_book, facts[900:]) == _feed(derivation, book, facts[900:])
    assert loaded_book.totals() == book.totals() and sum(book.totals().values()) > 0
    assert loaded.admitted == derivation.admitted == len({f.id for f in facts})
    assert len(loaded_book.ledgers) == len(book.ledgers)
    assert loaded_book.names == book.names and loaded_book.excluded == book.excluded


def test_a_value_evicted_unchanged_since_it_was_written_is_not_written_again(tmp_path):
    store = StateStore(tmp_path / "state", cache_mib=0.02)  # 13 units: 6 of these values
    values = store.map("m:0", state_codec._json_codec(len))
    for i in range(5):
        values[f"k{i}"] = {"n": i}
    store.settle()
    list(store.export([values]))  # writes them out; they stay decoded, as they are on disk
    store.db.put(values.prefix + b"k0", b'{"n": "on disk"}')  # were k0 written back, this would be lost
    values.get("k1")["n"] = -1  # used, and changed in place
    for i in range(100):  # the budget overflows: the least recently used go
        values[f"new{i}"] = {"n": i}
        store.settle()
    assert store.evictions > 5
    assert store.db.get(values.prefix + b"k0") == b'{"n": "on disk"}'
    assert values.get("k1") == {"n": -1}  # the one used was written


class _OneSnapshot:
    """What SnapshotLog.load_latest hands over, without the broker: one snapshot's keys, taken at `offset`."""

    topic = "points-book-snapshots"

    def __init__(self, raw: bytes, meta: dict, offset: int) -> None:
        self.raw, self.meta, self.offset = raw, meta, offset

    async def load_latest(self, partition: int, load) -> Loaded:
        return Loaded(input_offset=self.offset, meta=self.meta, keys=load(decode_chunk(self.raw)), bytes=len(self.raw),
                      changes_bytes=0, manifest=Base(7, "x"))


async def test_a_new_standby_copy_starts_from_the_snapshot(tmp_path):
    facts = community(random.Random(8), 600)
    source = StateStore(tmp_path / "owner", cache_mib=0.05)
    derivation, book = Derivation(RULES), Book(RULES, book_state(source, "book:1", RULES))
    _feed(derivation, book, facts)
    exported = export_state({1: book}, 1, source, changes_only=False)
    assert exported is not None
    store = StateStore(tmp_path / "copy", cache_mib=0.05)
    standbys = Standbys[Book](make=lambda p: Book(RULES, book_state(store, f"book:{p}", RULES)),
                             drop=lambda b: b.clear(), demote=note_no_changes)  # as the Keeper's
    assert standbys.keep({TopicPartition("states", 1)}) == {TopicPartition("states", 1): 0}
    loaded = await load_state({}, standbys, 1, store, _OneSnapshot(encode_chunk(exported.pairs), exported.meta, 42),
                              standby=True)
    assert loaded is not None and loaded.keys > 0
    copy, offset = standbys.copies[1]
    assert offset == 42  # the standby reader goes on from the snapshot's offset, not from 0
    assert copy.totals() == book.totals() and sum(book.totals().values()) > 0
    assert not any(m.noting for m in copy.state)  # a copy notes no changes: they would pile up


def test_a_partition_taken_away_keeps_its_state_as_a_copy_that_notes_no_changes(tmp_path):
    store = StateStore(tmp_path / "state", cache_mib=0.05)
    standbys = Standbys[Book](make=lambda p: Book(RULES, book_state(store, f"book:{p}", RULES)),
                             drop=lambda b: b.clear(), demote=note_no_changes)
    book = Book(RULES, book_state(store, "book:0", RULES))
    _feed(Derivation(RULES), book, community(random.Random(3), 200))
    assert export_state({0: book}, 0, store, changes_only=False) is not None  # an owner notes its changes
    assert all(m.noting for m in book.state)
    held, fresh, _ = _reassign({0: book}, set(), 4, 4, {TopicPartition("states", 0): 10}, standbys,
                               merge=lambda parts: parts[0])
    assert held == {} and fresh == {} and standbys.copies[0] == (book, 10)
    assert not any(m.noting for m in book.state)  # they would pile up for as long as it stays a copy
