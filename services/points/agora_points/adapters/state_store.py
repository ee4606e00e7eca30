"""Where a worker keeps its partitions' state: RocksDB on local disk, with the recently used part decoded in memory.

A worker holds its partitions' whole history, which grows with every event, so it cannot live in the heap. Each
stage keeps it in small values by key (`StateMap`: a chain, an award, a ledger head, a user's cells of one
window; see derivation.DerivationState and book.BookState), so an event reads and writes only what it is
about, and in-order indexes (`DiskIndex`: a user's entries by event time, a switch's awards), read only from
where a change lands. Everything is encoded into one RocksDB database per worker (`rocksdict`); only the values
used last stay decoded, up to a budget (`cache_mib`, the size of each estimated from what it holds, about
1.5 KB an event or entry decoded, measured). Values rarely used twice (awards, ids seen) go to disk when their
batch is done (`keep=False`), so they never push out those that are. What one batch touches stays in memory
until the batch is done (`settle()`), so the engine never holds an object that was evicted and decoded again.

The disk is not the truth: the service's own topics are the changelogs a partition is restored from, so the
database is wiped when the worker starts, written without a write-ahead log, and a partition's keys are deleted
when the partition moves away. A partition's keys can be exported as they are at one moment (`export`, read
through a RocksDB iterator's fixed view while the stage goes on) and loaded into another worker's store
(`load`): the state snapshots a restore starts from (adapters/snapshots.py). Once a partition's state was
exported or loaded, its maps and indexes note the keys changed since (`noting`: a marker per key in the same
database, written with the batch's values, so that noting costs no memory however many keys change and the
markers come back sorted), so the next snapshot can hold only those (`export(changes_only=True)`): what a
snapshot costs then follows the input, not the state's size.
"""

import shutil
import struct
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

import orjson
from rocksdict import (
    BlockBasedIndexType,
    BlockBasedOptions,
    Cache,
    DBCompressionType,
    Options,
    Rdict,
    WriteBatch,
    WriteOptions,
)

if TYPE_CHECKING:
    from agora_points.adapters.state_codec import Codec

V = TypeVar("V")

_CHANGED = b"\x7fchanged\x00"  # + a full key: changed since its partition's last snapshot (after every map's keys)
_BLOCK_CACHE_BYTES = 32 << 20  # RocksDB's own cache of disk blocks (the decoded values are ours, below)
_WRITE_BUFFER_BYTES = 16 << 20
_STEPS_BEFORE_SEEK = 8  # an export of changes steps over at most this many unchanged keys before it seeks
BYTES_PER_UNIT = 1_500  # a decoded event of a chain, entry of an award or value itself, with the objects around it


class StateStore:
    """One RocksDB database for all the state of one worker, and the decoded values used last (an LRU shared by
    every map of the store, up to `cache_mib` as estimated)."""

    def __init__(self, path: Path, *, cache_mib: float) -> None:
        self.path = path
        shutil.rmtree(path, ignore_errors=True)  # the changelogs are the truth: never trust a previous run's disk
        path.mkdir(parents=True, exist_ok=True)
        options = Options(raw_mode=True)
        options.create_if_missing(True)
        options.set_write_buffer_size(_WRITE_BUFFER_BYTES)
        options.set_max_write_buffer_number(2)
        options.set_compression_type(DBCompressionType.lz4())
        table = BlockBasedOptions()
        table.set_block_cache(Cache(_BLOCK_CACHE_BYTES))
        table.set_bloom_filter(10, False)  # most reads ask for a key never written (a new award, a new root)
        # the files' indexes and filters in partitions in that cache too: outside it, they grow with the data
        table.set_index_type(BlockBasedIndexType.two_level_index_search())
        table.set_partition_filters(True)
        table.set_cache_index_and_filter_blocks(True)
        table.set_pin_top_level_index_and_filter(True)
        table.set_pin_l0_filter_and_index_blocks_in_cache(True)
        options.set_block_based_table_factory(table)
        self.db = Rdict(str(path), options)
        write = WriteOptions()
        write.disable_wal = True  # type: ignore[method-assign,assignment]  # a property; the stub says method
        self.db.set_write_options(write)
        self.cache_mib = cache_mib
        self.budget = int(cache_mib * 2**20 / BYTES_PER_UNIT)  # in units of `size`
        # full key -> (its map, the decoded value, its size when last measured)
        self._cache: OrderedDict[bytes, tuple[StateMap, object, int]] = OrderedDict()
        self._used = 0  # the sizes in the cache, as last measured
        self._touched: set[bytes] = set()  # used since the last settle(): measured again then
        # kept decoded and used since last written to disk (the rest of the cache is on disk as it is): all an
        # export writes out first, so its pause follows what changed, not the cache's size
        self._dirty: set[bytes] = set()
        self.evictions = 0

    def index(self, name: str) -> "DiskIndex":
        """An empty index of its own (whatever an earlier index of the same name left is deleted)."""
        index = DiskIndex(self, name.encode() + b"\x00")
        index.clear()
        return index

    def map(self, name: str, codec: "Codec", *, keep: bool = True) -> "StateMap":
        """An empty map of its own (whatever an earlier map of the same name left is deleted). keep=False: its
        values go to disk when the batch that used them is done, for values rarely used twice (a ledger's awards,
        read again only when one is reversed), so they never push out the ones that are."""
        state_map: StateMap = StateMap(self, name.encode() + b"\x00", codec, keep)
        state_map.clear()
        return state_map

    @property
    def cached_mib(self) -> float:
        return self._used * BYTES_PER_UNIT / 2**20

    def _keep(self, full_key: bytes, owner: "StateMap", value: object) -> None:
        old = self._cache.get(full_key)
        if old is not None:
            self._used -= old[2]
        self._cache[full_key] = (owner, value, 0)
        self._touched.add(full_key)

    def _forget(self, full_key: bytes) -> None:
        _, _, size = self._cache.pop(full_key)
        self._used -= size
        self._touched.discard(full_key)
        self._dirty.discard(full_key)

    def settle(self) -> None:
        """Measure what was used since the last call, then write the values used least recently to disk until
        the rest fits the budget."""
        cache = self._cache
        batch = WriteBatch(raw_mode=True)
        for full_key in self._touched:
            hit = cache.get(full_key)
            if hit is None:
                continue
            owner, value, size = hit
            if owner.noting:  # used may be changed: the engine changes values in place
                batch.put(_CHANGED + full_key, b"")
            if owner.keep:
                now = owner.codec.size(value) + 1
                cache[full_key] = (owner, value, now)
                self._used += now - size
                self._dirty.add(full_key)
            else:
                del cache[full_key]
                self._used -= size
                batch.put(full_key, owner.codec.encode(value))
                owner.codec.release(value)
        self._touched = set()
        while self._used > self.budget and cache:
            full_key, (owner, value, size) = cache.popitem(last=False)
            self._used -= size
            if full_key in self._dirty:  # else on disk as it is (written by an export and unused since)
                self._dirty.discard(full_key)
                batch.put(full_key, owner.codec.encode(value))
            owner.codec.release(value)
            self.evictions += 1
        if len(batch):
            self.db.write(batch)

    def export(self, parts: list["StateMap | DiskIndex"], *, changes_only: bool = False
               ) -> Iterator[tuple[bytes, bytes | None]]:
        """Every key of these maps and indexes with its value, as they are now; changes_only: only the keys they
        noted as changed (None for a key deleted). The values decoded in memory and changed since last written are
        written out first (and stay decoded), then the database is read as of this moment, so later writes are not
        seen. Call it between batches; the iterator may be consumed while the stage goes on. From now on the parts
        note their changes again, from nothing."""
        batch = WriteBatch(raw_mode=True)
        mine = {id(part) for part in parts}
        for full_key in self._dirty | self._touched:
            hit = self._cache.get(full_key)
            if hit is not None and id(hit[0]) in mine:
                batch.put(full_key, hit[0].codec.encode(hit[1]))
                self._dirty.discard(full_key)
        if len(batch):
            self.db.write(batch)
        # RocksDB iterators made now read the database as it was when they were made, whatever is written later
        # (rocksdict's Snapshot.items() does not: it reads what is there then, measured)
        values = self.db.iter()
        pairs = self._read_changes(self.db.iter(), values, parts) if changes_only \
            else self._read_view(values, [part.prefix for part in parts])
        for part in parts:
            part.note_changes(True)
        return pairs

    @staticmethod
    def _read_view(view, prefixes: list[bytes]) -> Iterator[tuple[bytes, bytes]]:
        for prefix in prefixes:
            view.seek(prefix)
            while view.valid() and (key := view.key()).startswith(prefix):
                yield key, view.value()
                view.next()

    @staticmethod
    def _read_changes(markers, values, parts: list["StateMap | DiskIndex"]
                      ) -> Iterator[tuple[bytes, bytes | None]]:
        n = len(_CHANGED)
        for part in parts:
            noted = _CHANGED + part.prefix
            markers.seek(noted)
            values.seek(part.prefix)
            while markers.valid() and (marker := markers.key()).startswith(noted):
                key = marker[n:]
                # The markers are in key order: the values' iterator steps forward to the next one, and seeks only
                # past a run of unchanged keys (a seek cost ~8 µs, most of an export of changes, measured).
                for _ in range(_STEPS_BEFORE_SEEK):
                    if not values.valid() or values.key() >= key:
                        break
                    values.next()
                else:
                    values.seek(key)
                yield key, (values.value() if values.valid() and values.key() == key else None)
                markers.next()

    def load(self, pairs: Iterable[tuple[bytes, bytes | None]]) -> int:
        """Write exported keys as they are, deleting those exported as None (their maps must read nothing
        decoded yet); returns how many."""
        batch = WriteBatch(raw_mode=True)
        n = 0
        for key, value in pairs:
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
            n += 1
        if n:
            self.db.write(batch)
        return n

    def close(self) -> None:
        self._cache.clear()
        self._dirty.clear()
        self.db.close()
        shutil.rmtree(self.path, ignore_errors=True)


class StateMap(Generic[V]):
    """The values of one partition of one stage, by key (a root, a user): what the engine reads and changes in
    place. `settle()` after a batch moves what was used least recently out of memory."""

    def __init__(self, store: StateStore, prefix: bytes, codec: "Codec", keep: bool) -> None:
        self.store = store
        self.keep = keep
        self.prefix = prefix
        self.end = prefix[:-1] + b"\x01"  # the first key after every key of this map
        self.codec = codec
        self.decode: Callable[[bytes], V] = codec.decode
        self._count = 0
        self.noting = False  # marks the keys it changes, from its last snapshot on (none taken yet: no)

    def get(self, key: str) -> V | None:
        full_key = self.prefix + key.encode()
        cache = self.store._cache
        hit = cache.get(full_key)
        if hit is not None:
            cache.move_to_end(full_key)
            self.store._touched.add(full_key)
            return hit[1]  # type: ignore[return-value]
        raw = self.store.db.get(full_key)
        if raw is None:
            return None
        value = self.decode(raw)
        self.store._keep(full_key, self, value)
        return value

    def peek(self, key: str) -> V | None:
        """get() for a read (an API request, a title decision): not kept decoded for it."""
        hit = self.store._cache.get(self.prefix + key.encode())
        if hit is not None:
            return hit[1]  # type: ignore[return-value]
        raw = self.store.db.get(self.prefix + key.encode())
        return None if raw is None else self.decode(raw)

    def __getitem__(self, key: str) -> V:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: str, value: V) -> None:
        """Only for a key that has no value yet: the engine creates a root's or a user's state once, after get()
        found none (so it is not looked up on disk a second time here)."""
        self._count += 1
        self.store._keep(self.prefix + key.encode(), self, value)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and (
            self.prefix + key.encode() in self.store._cache or self.store.db.get(self.prefix + key.encode()) is not None)

    def __len__(self) -> int:
        return self._count

    def loaded(self, count: int) -> None:
        """Its keys were loaded into the store from a snapshot (StateStore.load): this many."""
        self._count = count

    def settle(self) -> None:
        self.store.settle()

    def _cached(self) -> dict[bytes, V]:
        prefix = self.prefix
        return {k: v for k, (owner, v, _) in self.store._cache.items()  # type: ignore[misc]
                if owner is self and k.startswith(prefix)}

    def _on_disk(self) -> Iterator[tuple[bytes, bytes]]:
        for full_key, raw in self.store.db.items(from_key=self.prefix):
            assert isinstance(full_key, bytes)  # raw mode: keys and values are bytes
            if not full_key.startswith(self.prefix):
                return
            yield full_key, raw

    def items(self) -> Iterator[tuple[str, V]]:
        """Every value, those on disk decoded one at a time (not kept in memory)."""
        cached = self._cached()
        n = len(self.prefix)
        for full_key, value in cached.items():
            yield full_key[n:].decode(), value
        for full_key, raw in self._on_disk():
            if full_key not in cached:
                yield full_key[n:].decode(), self.decode(raw)

    def __iter__(self) -> Iterator[str]:
        cached = self._cached()
        n = len(self.prefix)
        yield from (k[n:].decode() for k in cached)
        for full_key, _ in self._on_disk():
            if full_key not in cached:
                yield full_key[n:].decode()

    def keys(self) -> Iterator[str]:
        return iter(self)

    def values(self) -> Iterator[V]:
        return (v for _, v in self.items())

    def clear(self) -> None:
        """Forget every value (a partition that moved away)."""
        cache, prefix = self.store._cache, self.prefix
        for full_key in [k for k in cache if k.startswith(prefix)]:  # an earlier map of this name's too
            self.store._forget(full_key)
        self.store.db.delete_range(self.prefix, self.end)
        self._count = 0
        self.note_changes(False)

    def note_changes(self, on: bool) -> None:
        """Note the keys changed from now on (or not): whatever was noted before is forgotten."""
        self.store.db.delete_range(_CHANGED + self.prefix, _CHANGED + self.end)
        self.noting = on


_INT = struct.Struct(">Q")


def sortable(sk: tuple) -> bytes:
    """A sort key as bytes that sort as the tuple does: ints at a fixed width, offset so negatives come first;
    strings (ids, which never hold NUL) in UTF-8 (code point order), each ended by NUL so a prefix sorts first."""
    out = bytearray()
    for part in sk:
        if isinstance(part, int):
            out += b"\x01" + _INT.pack(part + (1 << 63))
        else:
            out += b"\x02" + part.encode() + b"\x00"
    return bytes(out)


class DiskIndex:
    """model.SortedIndex in the worker's RocksDB, written through (no cache): (user, sort key) -> entry key. A
    user's keys are contiguous, so an index read is one seek and a walk."""

    def __init__(self, store: StateStore, prefix: bytes) -> None:
        self.db = store.db
        self.prefix = prefix
        self.end = prefix[:-1] + b"\x01"
        self.noting = False  # as StateMap's

    def _user(self, user: str) -> bytes:
        return self.prefix + user.encode() + b"\x00"

    def put(self, user: str, sk: tuple, key: tuple) -> None:
        full_key = self._user(user) + sortable(sk)
        self.db.put(full_key, orjson.dumps(key))
        if self.noting:
            self.db.put(_CHANGED + full_key, b"")

    def delete(self, user: str, sk: tuple) -> None:
        full_key = self._user(user) + sortable(sk)
        self.db.delete(full_key)
        if self.noting:
            self.db.put(_CHANGED + full_key, b"")

    def before(self, user: str, sk: tuple) -> tuple | None:
        mine = self._user(user)
        target = mine + sortable(sk)
        it = self.db.iter()
        it.seek_for_prev(target)
        if it.valid() and it.key() == target:
            it.prev()
        if it.valid() and it.key().startswith(mine):
            return tuple(orjson.loads(it.value()))
        return None

    def scan(self, user: str, start: tuple | None = None, end: tuple | None = None, *,
             reverse: bool = False) -> Iterator[tuple]:
        mine = self._user(user)
        lower = mine + sortable(start) if start is not None else mine
        upper = mine + sortable(end) if end is not None else mine[:-1] + b"\x01"
        it = self.db.iter()
        if reverse:
            it.seek_for_prev(upper)
            if it.valid() and it.key() == upper:
                it.prev()
            while it.valid() and it.key() >= lower:
                yield tuple(orjson.loads(it.value()))
                it.prev()
        else:
            it.seek(lower)
            while it.valid() and it.key() < upper:
                yield tuple(orjson.loads(it.value()))
                it.next()

    def clear(self) -> None:
        self.db.delete_range(self.prefix, self.end)
        self.note_changes(False)

    def note_changes(self, on: bool) -> None:
        """As StateMap's."""
        self.db.delete_range(_CHANGED + self.prefix, _CHANGED + self.end)
        self.noting = on
