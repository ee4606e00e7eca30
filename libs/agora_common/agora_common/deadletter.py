"""agora-deadletter: read the dead-letter topic, replay what was fixed, and mark what was dealt with.

    agora-deadletter list [--all] [--reason R] [--group G] [--type T]   what waits, a line each
    agora-deadletter show PARTITION:OFFSET                              one letter: why, where from, the event
    agora-deadletter replay [--reason R] [--group G] [--type T] [--yes]  send them back to their topics
    agora-deadletter purge [--yes]                                      mark everything up to now as dealt with

Replaying is safe: every consumer deduplicates by event id, so an event the other consumers had applied changes
nothing there, and the consumer that refused it gets another chance (after the fix). A letter goes back to the
topic it came from (`x-agora-origin`), or else to its service's topic (the envelope's `source`).

Purging does not delete records (Kafka deletes them by the topic's 30-day retention): it moves this tool's
consumer group (`<prefix>deadletter-tool`) past them, so `list` shows only what arrived since; `list --all` shows
everything still on the topic. Settings come from the same AGORA_* variables as the services.
"""

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from tqdm import tqdm

from agora_common.events import BadEvent, Envelope
from agora_common.kafka import EventPublisher, Kafka, kafka_connection
from agora_common.settings import ServiceSettings
from agora_common.topics import Topics


@dataclass(frozen=True)
class DeadLetter:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]

    @property
    def where(self) -> str:
        return f"{self.partition}:{self.offset}"

    @property
    def reason(self) -> str:
        return self.headers.get("x-agora-reason", "?")

    @property
    def group(self) -> str:
        return self.headers.get("x-agora-group", "?")

    def envelope(self) -> Envelope | None:
        try:
            return Envelope.from_bytes(self.value)
        except BadEvent:
            return None  # malformed: shown raw, replayed as it is

    def event_type(self) -> str:
        envelope = self.envelope()
        return envelope.type if envelope else "?"

    def destination(self, topics: Topics) -> str | None:
        """The topic it came from, else its service's topic; None if neither is known."""
        if origin := self.headers.get("x-agora-origin"):
            return origin.rsplit("/", 2)[0]
        envelope = self.envelope()
        try:
            return topics.for_source(envelope.source) if envelope else None
        except KeyError:
            return None


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    await consumer.topics()  # fetches the cluster's metadata, which partitions_for_topic reads
    return [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]


def tool_group(topics: Topics) -> str:
    return f"{topics.prefix}deadletter-tool"


async def read(kafka: Kafka, topics: Topics, *, since_purge: bool = True) -> list[DeadLetter]:
    """Every letter on the topic now (or only those after the last purge), in partition and offset order."""
    consumer = AIOKafkaConsumer(**kafka_connection(kafka).client_options(), group_id=tool_group(topics),
                                enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = await _partitions(consumer, topics.dead_letter)
        if not partitions:
            return []
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        for tp in partitions:
            committed = await consumer.committed(tp) if since_purge else None
            if committed is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, committed)
        letters: list[DeadLetter] = []
        remaining = {tp for tp in partitions if await consumer.position(tp) < ends[tp]}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000)
            if not batch:
                break  # the broker has nothing more to give (its end offsets can run a few records ahead)
            for tp, records in batch.items():
                letters += [DeadLetter(r.partition, r.offset, r.key, r.value,
                                       {k: v.decode(errors="replace") for k, v in r.headers}) for r in records]
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return sorted(letters, key=lambda letter: (letter.partition, letter.offset))
    finally:
        await consumer.stop()


def select(letters: list[DeadLetter], *, reason: str | None, group: str | None, event_type: str | None
           ) -> list[DeadLetter]:
    return [letter for letter in letters if (reason is None or letter.reason == reason)
            and (group is None or letter.group == group) and (event_type is None or letter.event_type() == event_type)]


async def replay(kafka: Kafka, topics: Topics, letters: list[DeadLetter], *, progress: bool = False) -> int:
    """Send the letters back to their topics, keyed as they were; returns how many went."""
    publisher = EventPublisher(kafka, client_id="deadletter-tool")
    await publisher.start()
    sent = 0
    try:
        for letter in tqdm(letters, desc="replaying", unit="event", disable=not progress):
            destination = letter.destination(topics)
            if destination is None:
                continue
            headers = [("x-agora-replayed-from", f"{topics.dead_letter}/{letter.where}".encode())]
            await publisher.publish_raw(destination, letter.value, key=letter.key, headers=headers)
            sent += 1
    finally:
        await publisher.stop()
    return sent


async def purge(kafka: Kafka, topics: Topics) -> int:
    """Move this tool's group to the end of every partition; returns how many letters that passed."""
    waiting = await read(kafka, topics)
    consumer = AIOKafkaConsumer(**kafka_connection(kafka).client_options(), group_id=tool_group(topics),
                                enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await _partitions(consumer, topics.dead_letter)
        if partitions:
            consumer.assign(partitions)
            ends = await consumer.end_offsets(partitions)
            await consumer.commit(ends)
    finally:
        await consumer.stop()
    return len(waiting)


def _line(letter: DeadLetter) -> str:
    envelope = letter.envelope()
    what = f"{envelope.type} {envelope.subject}" if envelope else "(malformed)"
    return f"{letter.where:>10}  {letter.reason:<28} {letter.group:<28} {what}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="agora-deadletter", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (("list", "what waits, a line each"), ("replay", "send them back to their topics")):
        command = commands.add_parser(name, help=text)
        command.add_argument("--reason", help="only letters refused for this reason (e.g. invalid_payload)")
        command.add_argument("--group", help="only letters refused by this consumer group")
        command.add_argument("--type", dest="event_type", help="only this event type")
        command.add_argument("--all", action="store_true", help="also those marked as dealt with (purged)")
        if name == "replay":
            command.add_argument("--yes", action="store_true", help="do not ask")
    show = commands.add_parser("show", help="one letter in full")
    show.add_argument("where", help="PARTITION:OFFSET, as list prints it")
    commands.add_parser("purge", help="mark everything up to now as dealt with").add_argument("--yes", action="store_true")
    args = parser.parse_args(argv)
    settings = ServiceSettings()
    topics = Topics(settings.topic_prefix)
    kafka = settings.kafka

    if args.command == "purge":
        if not args.yes and input("Mark every dead letter as dealt with? [y/N] ").strip().lower() != "y":
            return 1
        print(f"purged {asyncio.run(purge(kafka, topics))} dead letters (they stay until retention)")
        return 0
    letters = asyncio.run(read(kafka, topics, since_purge=not getattr(args, "all", False)))
    if args.command == "show":
        found = [letter for letter in letters if letter.where == args.where]
        if not found:
            print(f"no dead letter at {args.where}", file=sys.stderr)
            return 1
        letter = found[0]
        envelope = letter.envelope()
        print(json.dumps({"where": letter.where, "headers": letter.headers,
                          "destination": letter.destination(topics),
                          "event": envelope.model_dump(mode="json") if envelope else
                          (letter.value or b"").decode(errors="replace")}, indent=2))
        return 0
    chosen = select(letters, reason=args.reason, group=args.group, event_type=args.event_type)
    if args.command == "list":
        for letter in chosen:
            print(_line(letter))
        print(f"{len(chosen)} dead letters", file=sys.stderr)
        return 0
    if not chosen:
        print("nothing to replay", file=sys.stderr)
        return 0
    if not args.yes and input(f"Replay {len(chosen)} dead letters to their topics? [y/N] ").strip().lower() != "y":
        return 1
    sent = asyncio.run(replay(kafka, topics, chosen, progress=sys.stderr.isatty()))
    print(f"replayed {sent} of {len(chosen)} dead letters")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
