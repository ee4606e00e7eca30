"""The points pipeline on quixstreams, for the side-by-side in bench/points/run.py (bench only, never the service).

The issue behind the partitioned workers asks for quixstreams to be measured on the same bench before the
engine is chosen. This runs the same three steps the service's workers run, with quixstreams carrying the
events:

    domain topics ─▶ decode ─group_by(root)─▶ stage 1 (Derivation per partition)
                  ─to_topic(key=user)─▶ stage 2 (Book per partition) ─▶ the Redis boards

The scoring, its state (the same RocksDB state store) and the board writes are the service's own code; what
differs is what moves the events: quixstreams' per-message dataframe, its repartition topic (`group_by`), a
topic keyed by user and its librdkafka consumer and producer, against the service's batches on aiokafka.
quixstreams' own state (`State`, changelog topics) is not used: the stages' state is in many keys per root and
per user, not one value per message key, so the same store serves both and the comparison is of the transport
alone.

    python bench/points/quixstreams_worker.py BOOTSTRAP REDIS_URL PREFIX STATUS_FILE STATE_DIR

It writes its progress to STATUS_FILE every 50 ms (domain events read, facts admitted by stage 1, stage
messages sent and applied, board writes pending) and runs until SIGTERM. quixstreams comes from a directory of
its own (run.py installs it there): its pins (pydantic < 2.14, pydantic-settings < 2.16) conflict with the
service's lock.
"""

import asyncio
import itertools
import json
import os
import sys
import threading
import time
from pathlib import Path

from agora_common.events import BadEvent
from agora_common.topics import Topics
from agora_points.adapters.leaderboards import Leaderboards
from agora_points.adapters.state_codec import book_state, derivation_state
from agora_points.adapters.state_store import StateStore
from agora_points.adapters.wire import decode_fact, encode_batch, encode_fact, encode_stage
from agora_points.domain.book import Book
from agora_points.domain.derivation import Derivation
from agora_points.domain.model import BatchResult, root_of
from agora_points.domain.rules import load_rules
from agora_points.service.decode import Decoder, relevant_types
from agora_points.service.stages import sort_stage_messages
from quixstreams import Application
from quixstreams.context import message_context
from quixstreams.models.serializers import JSONSerializer
from quixstreams.models.topics.admin import TopicAdmin


def tolerate_tansu() -> None:
    """Tansu's DescribeConfigs answer omits `retention.ms`, which quixstreams needs to derive its repartition
    topics' configs from the input topics' (a KeyError at start-up): read a missing one as Kafka's "keep"."""
    inspect = TopicAdmin.inspect_topics

    def inspect_topics(self, topic_names, timeout=30):
        configs = inspect(self, topic_names, timeout)
        for config in configs.values():
            if config is not None:
                config.extra_config.setdefault("retention.ms", "-1")
        return configs

    TopicAdmin.inspect_topics = inspect_topics


class SettledByTime(StateStore):
    """The service's stages settle the store (write what a batch changed, trim the cache) once per fetched batch;
    quixstreams hands over one message at a time, and a settle per message costs a RocksDB write batch each. So
    here it settles at most every 20 ms (what a service batch spans at these rates); values wait in the cache
    meanwhile, which is all a settle would have read them from."""

    last = 0.0

    def settle(self) -> None:
        now = time.monotonic()
        if now - self.last >= 0.02:
            self.last = now
            super().settle()


class Pipeline:
    def __init__(self, *, prefix: str, redis_url: str, state_dir: Path) -> None:
        self.rules = load_rules(None)
        self.decode = Decoder(relevant_types(self.rules))
        self.store = SettledByTime(state_dir, cache_mib=128)
        self.derivations: dict[int, Derivation] = {}
        self.books: dict[int, Book] = {}
        self.counts = {"read": 0, "admitted": 0, "sent": 0, "kept": 0, "dead": 0}
        self.lock = threading.Lock()  # the books: stage 2 (quixstreams' thread) against the board writer
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.leaderboards = Leaderboards(redis_url, namespace=f"{prefix}quix:")
        self.writing = None  # the board write in flight: changes meanwhile merge into the next, as BoardSync does
        self.written_at = 0.0

    # ---- the three steps, each called by quixstreams once per message ------------------------------------
    def route(self, raw: bytes):
        self.counts["read"] += 1
        try:
            fact = self.decode(raw)
        except BadEvent:
            self.counts["dead"] += 1
            return None
        return None if fact is None else [root_of(fact), encode_fact(fact)]

    def derive(self, value) -> list:
        partition = message_context().partition
        derivation = self.derivations.get(partition)
        if derivation is None:
            state = derivation_state(self.store, f"quix-derive:{partition}", self.rules)
            derivation = self.derivations[partition] = Derivation(self.rules, state)
        states, statuses, names = derivation.admit([decode_fact(value[1])], BatchResult())
        self.counts["admitted"] += 1
        out = [[m.user, encode_stage(m)] for m in (*statuses, *names, *states)]
        self.counts["sent"] += len(out)
        return out

    def keep(self, value) -> None:
        partition = message_context().partition
        with self.lock:
            book = self.books.get(partition)
            if book is None:
                book = self.books[partition] = Book(self.rules, book_state(self.store, f"quix-book:{partition}",
                                                                           self.rules))
                book.tracking = True
            states, statuses, names = sort_stage_messages([value[1]])
            book.apply(states, statuses, BatchResult(), names)
            self.counts["kept"] += 1
        self.write_boards()

    # ---- the boards -------------------------------------------------------------------------------------
    def write_boards(self) -> None:
        """Called after each message and every 10 ms: at most one write in flight, and at most one per 10 ms
        (the service writes once per batch; a write per message would be a Redis round trip per event)."""
        now = time.monotonic()
        if (self.writing is not None and not self.writing.done()) or now - self.written_at < 0.01:
            return
        self.written_at = now
        with self.lock:
            cells: dict = {}
            for book in self.books.values():
                for board, members in book.take_board_changes().items():
                    cells.setdefault(board, {}).update(members)
        if cells:
            self.writing = asyncio.run_coroutine_threadsafe(self.leaderboards.write(cells), self.loop)

    def status(self) -> dict:
        pending = self.writing is not None and not self.writing.done()
        with self.lock:
            changes = any(book.touched_cells or book.touched_status for book in self.books.values())
        return {**self.counts, "boards_pending": pending or changes}


def main() -> None:
    bootstrap, redis_url, prefix, status_file, state_dir = sys.argv[1:6]
    tolerate_tansu()
    topics = Topics(prefix)
    pipeline = Pipeline(prefix=prefix, redis_url=redis_url, state_dir=Path(state_dir))
    app = Application(
        broker_address=bootstrap, consumer_group=f"{prefix}quixstreams", auto_offset_reset="earliest",
        state_dir=Path(state_dir) / "quixstreams", use_changelog_topics=False, loglevel="WARNING",
        commit_interval=1.0,  # as the service's workers commit
        # Tansu holds a fetch until its wait runs out even when records are there: the service's 5 ms, not
        # librdkafka's 500 ms default
        consumer_extra_config={"fetch.wait.max.ms": 5},
        consumer_poll_timeout=0.1,
    )
    content = app.dataframe(app.topic(topics.content, value_deserializer="bytes", key_deserializer="bytes"))
    events = app.dataframe(app.topic(topics.events, value_deserializer="bytes", key_deserializer="bytes"))
    # quixstreams allows one group_by per dataframe ("nested group_by operations are not allowed"): the second
    # repartition, by user, is a topic of the bench's own written with the user as key, read by a second dataframe
    wire = JSONSerializer(dumps=encode_batch)  # the service's encoding (orjson; payload models, sets)
    states = app.topic(f"{prefix}quixstreams-states", key_serializer="str", value_serializer=wire,
                       value_deserializer="json")
    sdf = content.concat(events).apply(pipeline.route).filter(lambda fact: fact is not None)
    sdf = sdf.group_by(lambda fact: fact[0], name="root", value_serializer=wire).apply(pipeline.derive, expand=True)
    sdf.to_topic(states, key=lambda message: message[0])
    app.dataframe(states).update(pipeline.keep)

    def report() -> None:
        for tick in itertools.count():
            pipeline.write_boards()  # what the last message of a burst left, while no write was in flight
            if tick % 5 == 0:
                tmp = f"{status_file}.tmp"
                Path(tmp).write_text(json.dumps(pipeline.status()))
                os.replace(tmp, status_file)
            time.sleep(0.01)

    threading.Thread(target=report, daemon=True).start()
    app.run()


if __name__ == "__main__":
    main()
