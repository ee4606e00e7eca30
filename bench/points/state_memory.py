"""Points state memory: what one worker's two stateful stages hold as the history grows, side by side in one run:
the state in the heap (as the workers held it before the state store) against the worker's state store (RocksDB
on local disk, the values used last decoded in memory, `AGORA_POINTS_STATE_CACHE_MIB`).

    .venv/bin/python bench/points/state_memory.py                      # 1,000,000 events
    .venv/bin/python bench/points/state_memory.py --events 400000 --json /tmp/state.json

The events of bench/points/run.py are generated once, as the stages' wire batches of 5,000, into a file; each mode
runs in a process of its own that reads it and feeds the stages (Derivation, Book) through the same wire format
as between workers, without a broker (the embedded broker cannot take a million events through the pipeline on
this machine: points README). It prints the resident set (VmRSS, after a collection) every 200,000 events, the
live Python blocks, the rate of each stage, and the bytes on disk. The goal of the scale issue: RAM grows < 100 MB per million events of history.
At the end, the store's whole state is exported as a state snapshot's chunks and loaded into a fresh store, timed
beside the time the history took through both stages: what a restore costs from a snapshot and from the log.
Side by side, a snapshot of only the keys changed by the last `--changes-events` events (what the workers write
between whole snapshots) is exported and timed too.
"""

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).parent))


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return 0.0


def rocksdb_memory(db) -> int:
    """What RocksDB says it holds in memory: memtables, table readers (indexes and filters outside the block
    cache), and the block cache (indexes and filters inside it included)."""
    names = ("rocksdb.cur-size-all-mem-tables", "rocksdb.estimate-table-readers-mem", "rocksdb.block-cache-usage")
    return sum(int(db.property_value(name) or 0) for name in names)


def generate(events: int, path: Path) -> None:
    """The events as the stages' wire batches of 5,000 facts, one per line: made once, by the parent, so that the
    measured processes hold nothing of the generator (which alone grows a process by ~80 MiB per million events:
    allocator residue of building them, measured)."""
    from agora_points.adapters.wire import encode_batch, encode_fact
    from agora_points.domain.rules import load_rules
    from agora_points.service.decode import Decoder, relevant_types
    from run import make_events

    decode = Decoder(relevant_types(load_rules()))
    chunk = 50_000
    origin = datetime(2026, 9, 1, tzinfo=UTC)
    with path.open("wb") as out, tqdm(total=events, desc="generating", unit="ev", file=sys.stderr,
                                      mininterval=2) as bar:
        for first in range(0, events, chunk):
            n = min(chunk, events - first)
            span = timedelta(days=60 * n / events)
            generated = make_events(n, first + 1, origin + timedelta(days=60 * first / events), span)
            for i in range(0, n, 5000):
                out.write(encode_batch([encode_fact(decode(orjson.dumps(e.model_dump(mode="json"))))
                                        for _, e in generated[i:i + 5000]]) + b"\n")
            bar.update(n)


def measure(mode: str, events: int, cache_mib: float, path: Path, changes_events: int) -> dict:
    """Run in a process of its own: the figures of one mode."""
    from agora_points.adapters.state_codec import book_state, derivation_state
    from agora_points.adapters.state_store import StateStore
    from agora_points.adapters.wire import decode_batch, decode_fact, decode_stage, encode_batch, encode_stage
    from agora_points.domain.book import Book
    from agora_points.domain.derivation import Derivation
    from agora_points.domain.model import AwardState, BatchResult
    from agora_points.domain.rules import load_rules

    gc.set_threshold(50_000, 20, 100)  # as the worker (main.py)
    rules = load_rules()
    store = None
    if mode == "store":
        store = StateStore(Path(tempfile.mkdtemp(prefix="agora-bench-state-")) / "state", cache_mib=cache_mib)
    derivation = Derivation(rules, derivation_state(store, "derive:0", rules) if store else None)
    book = Book(rules, book_state(store, "book:0", rules) if store else None)
    start = rss_mib()
    figures: dict = {"mode": mode, "rss_mib_start": round(start)}
    stage1 = stage2 = 0.0
    done = 0
    tracked_input = 0  # bytes of input since the changes began to be noted (as after a snapshot)
    window, window_s = 0, 0.0
    def feed(message: bytes) -> tuple[int, float, float]:
        """One wire batch through both stages: (facts, seconds in stage 1, in stage 2)"""
        t = time.perf_counter()
        facts = [decode_fact(x) for x in decode_batch(message)]
        states, statuses, names = derivation.admit(facts, BatchResult())
        out = encode_batch([encode_stage(m) for m in [*statuses, *names, *states]])
        t2 = time.perf_counter()
        decoded = [decode_stage(x) for x in decode_batch(out)]
        book.apply([m for m in decoded if isinstance(m, AwardState)], [], BatchResult(), [])
        return len(facts), t2 - t, time.perf_counter() - t2

    with tqdm(total=events, desc=mode, unit="ev", file=sys.stderr, mininterval=2) as bar, path.open("rb") as lines:
        while done < events:
            n, t1, t2 = feed(lines.readline())
            stage1 += t1
            stage2 += t2
            if done >= events - changes_events:  # the history's last events, as many as come after it
                window_s += t1 + t2
                window += n
            done += n
            bar.update(n)
            if done % 200_000 == 0 or done == events:
                gc.collect()
                figures[f"rss_mib_at_{done}"] = round(rss_mib())
                figures[f"python_blocks_at_{done}"] = sys.getallocatedblocks()
                if store is not None:  # how full the cache is: growth until it is full is not history's
                    figures[f"cached_mib_estimate_at_{done}"] = round(store.cached_mib)
                    figures[f"rocksdb_mib_at_{done}"] = round(rocksdb_memory(store.db) / 2**20)
        if store is not None:  # what a worker notes between two snapshots: the changes of the events after
            for engine in (derivation, book):
                for m in engine.state:
                    m.note_changes(True)
            tail, tail_s = 0, 0.0
            for message in lines:
                tracked_input += len(message)
                n, t1, t2 = feed(message)
                tail += n
                tail_s += t1 + t2
            figures["noting_eps"] = round(tail / tail_s)  # both stages, noting what changes
            figures["not_noting_eps"] = round(window / window_s)  # as many events just before, noting nothing
    figures["stage1_eps"] = round(events / stage1)
    figures["stage2_eps"] = round(events / stage2)
    figures["users"] = len(book.ledgers)
    figures["replay_s"] = round(stage1 + stage2, 1)  # a restore from the log runs the whole history through both
    if store is not None:
        figures["disk_mib"] = round(int(store.db.property_value("rocksdb.total-sst-files-size") or 0) / 2**20
                                    + int(store.db.property_value("rocksdb.cur-size-all-mem-tables") or 0) / 2**20)
        figures["cached_mib_estimate"] = round(store.cached_mib)
        figures["evictions"] = store.evictions
        figures["changes_input_mib"] = round(tracked_input / 2**20, 1)
        figures.update(snapshot_figures(store, derivation, book, cache_mib))
        store.close()
    return figures


def snapshot_figures(store, derivation, book, cache_mib: float) -> dict:
    """What a restore from a state snapshot costs instead: the whole state exported as the snapshot's chunks (as
    adapters/snapshots.py writes them, without the broker) and loaded into a fresh store, timed; and first, a
    snapshot of only the keys changed since the changes began to be noted."""
    from agora_points.adapters.snapshots import decode_chunk, encode_chunk
    from agora_points.adapters.state_store import StateStore
    from agora_points.service.stages import export_state

    by_map: dict[str, list[int]] = {}  # what a snapshot of changes is made of: map -> [keys, bytes]

    def export(changes_only: bool) -> tuple[list[bytes], int, float, float]:
        """(chunks, keys, seconds the stage pauses, seconds in all)"""
        t = time.perf_counter()
        chunks, keys, pause = [], 0, 0.0
        for engine in (derivation, book):
            t_pause = time.perf_counter()
            exported = export_state({0: engine}, 0, store, changes_only=changes_only)
            pause += time.perf_counter() - t_pause
            assert exported.changes_only == changes_only
            chunk, size = [], 0
            for key, value in exported.pairs:
                chunk.append((key, value))
                size += len(key) + len(value or b"")
                keys += 1
                if changes_only:
                    tally = by_map.setdefault(key.split(b"\x00", 1)[0].decode(), [0, 0])
                    tally[0] += 1
                    tally[1] += len(key) + len(value or b"")
                if size >= 512 * 1024:
                    chunks.append(encode_chunk(chunk))
                    chunk, size = [], 0
            chunks.append(encode_chunk(chunk))
        return chunks, keys, pause, time.perf_counter() - t

    changes, changed_keys, changes_pause, changes_s = export(changes_only=True)
    chunks, keys, pause, exported = export(changes_only=False)
    fresh = StateStore(Path(tempfile.mkdtemp(prefix="agora-bench-state-")) / "state", cache_mib=cache_mib)
    t = time.perf_counter()
    for raw in chunks:
        fresh.load(decode_chunk(raw))
    loaded = time.perf_counter() - t
    fresh.close()
    return {"snapshot_keys": keys, "snapshot_mib": round(sum(map(len, chunks)) / 2**20),
            "snapshot_export_s": round(exported, 1), "snapshot_export_pause_s": round(pause, 2),
            "snapshot_load_s": round(loaded, 1),
            "changes_keys": changed_keys, "changes_mib": round(sum(map(len, changes)) / 2**20, 1),
            "changes_export_s": round(changes_s, 2), "changes_export_pause_s": round(changes_pause, 2),
            "changes_by_map": by_map}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--cache-mib", type=float, default=128, help="the store's cache (the worker's default)")
    parser.add_argument("--changes-events", type=int, default=40_000,
                        help="events after the history whose changes a snapshot of changes holds")
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--mode", help=argparse.SUPPRESS)  # one mode, in this process
    parser.add_argument("--events-file", help=argparse.SUPPRESS)  # the generated events, for --mode
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(measure(args.mode, args.events, args.cache_mib, Path(args.events_file), args.changes_events)))
        return

    from agora_devservers.machine import describe as describe_machine

    print(f"machine: {describe_machine()}")
    print(f"{args.events:,} events (bench/points/run.py's mix, 20,000 users, 60 days), stages fed in-process")
    results = {}
    with tempfile.TemporaryDirectory(prefix="agora-bench-events-") as scratch:
        events_file = Path(scratch) / "events.jsonl"
        generate(args.events + args.changes_events, events_file)  # the history, then the events after it
        for mode in ("heap", "store"):
            out = subprocess.run([sys.executable, __file__, "--mode", mode, "--events", str(args.events),
                                  "--cache-mib", str(args.cache_mib), "--events-file", str(events_file),
                                  "--changes-events", str(args.changes_events)],
                                 check=True, capture_output=False, stdout=subprocess.PIPE, text=True).stdout
            results[mode] = json.loads(out.strip().splitlines()[-1])
    end = args.events
    print(f"{'':34} {'heap (before)':>15} {'state store':>15}")
    rows = [*((f"RSS at {n:,} events, MiB", f"rss_mib_at_{n}") for n in range(200_000, end + 1, 200_000)),
            *([] if end % 200_000 == 0 else [(f"RSS at {end:,} events, MiB", f"rss_mib_at_{end}")]),
            ("live Python blocks at the end", f"python_blocks_at_{end}"), ("stage 1 events/s", "stage1_eps"),
            ("stage 2 events/s", "stage2_eps")]
    for label, key in rows:
        print(f"{label:34} {results['heap'].get(key, '-'):>15,} {results['store'].get(key, '-'):>15,}")
    figures: dict = {"machine": describe_machine(), "events": end, "cache_mib": args.cache_mib, **{
        f"{mode}_{k}": v for mode, r in results.items() for k, v in r.items() if k != "mode"}}
    if end > 200_000:
        for mode in ("heap", "store"):
            r = results[mode]
            growth = (r[f"rss_mib_at_{end}"] - r["rss_mib_at_200000"]) / ((end - 200_000) / 1e6)
            figures[f"{mode}_rss_growth_mib_per_1m_events"] = round(growth)
            print(f"RSS growth per million events, {mode}: {growth:,.0f} MiB (goal < 100 MB)")
    print(f"state store: {results['store'].get('disk_mib')} MiB on disk, {results['store'].get('evictions'):,} "
          f"evictions, cache estimate {results['store'].get('cached_mib_estimate')} MiB")
    for label, name in (("cache estimate", "cached_mib_estimate"), ("RocksDB's memory", "rocksdb_mib")):
        at = [f"{n // 1000:,}k: {results['store'][f'{name}_at_{n}']}" for n in range(200_000, end + 1, 200_000)]
        print(f"state store {label}, MiB, at {', '.join(at)}")
    r = results["store"]
    print(f"restore of the {end:,}-event state: running the history through both stages took {r['replay_s']:.1f} s; "
          f"its snapshot ({r['snapshot_keys']:,} keys, {r['snapshot_mib']:,} MiB) loaded into a fresh store in "
          f"{r['snapshot_load_s']:.1f} s ({r['replay_s'] / max(r['snapshot_load_s'], 0.1):.0f}x less), exported in "
          f"{r['snapshot_export_s']:.1f} s (the stage paused {r['snapshot_export_pause_s']:.2f} s of it)")
    print(f"a snapshot of the keys changed by {args.changes_events:,} events after that history "
          f"({r['changes_input_mib']} MiB of input; both stages at {r['noting_eps']:,} events/s while noting them, "
          f"against {r['not_noting_eps']:,} for as many events just before, noting nothing): "
          f"{r['changes_keys']:,} keys, {r['changes_mib']:,} MiB ({r['changes_mib'] / r['snapshot_mib']:.1%}"
          f" of the whole), exported in {r['changes_export_s']:.2f} s (the stage paused "
          f"{r['changes_export_pause_s']:.2f} s of it)")
    print("  made of (map: keys, MiB, bytes a key): " + "; ".join(
        f"{name} {n:,}, {size / 2**20:,.1f}, {size // n:,}"
        for name, (n, size) in sorted(r["changes_by_map"].items(), key=lambda item: -item[1][1])))
    figures["rss_mib_at_200k_events"] = results["store"]["rss_mib_at_200000"]
    if end == 1_000_000:
        figures["rss_mib_at_1m_events"] = results["store"][f"rss_mib_at_{end}"]
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
