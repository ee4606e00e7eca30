"""Engine snapshots: a restart loads the latest one and reads the log only from the offsets it covers.

A snapshot is the pickled engine plus, per partition, the offset before which every message was applied. It
is only a shortcut: it is used only if written for the same topics and the same rules (hash of the rules
document), and a missing, old or unreadable snapshot means a full replay of the log (same result, slower).
Messages read again after it are duplicates the engine ignores.

Writing must not stall scoring or the API: the process forks and the child (a copy-on-write image of the
state at that instant) pickles and writes the file, then exits; the parent carries on at once. Files are
written to a temporary name and renamed, so a crash mid-write leaves the previous snapshot intact.
"""

import asyncio
import hashlib
import logging
import os
import pickle
import signal
import sys
import time
from pathlib import Path

from agora_points.domain.engine import ENGINE_VERSION, Engine
from agora_points.domain.rules import RuleSet

log = logging.getLogger(__name__)

FORMAT = 1
sys.setrecursionlimit(max(sys.getrecursionlimit(), 20_000))  # entries <-> awards reference each other


def rules_fingerprint(rules: RuleSet) -> str:
    """The rules and the engine version a snapshot was computed with: another one is not used."""
    return hashlib.sha256(f"engine {ENGINE_VERSION}\n{rules.model_dump_json()}".encode()).hexdigest()


class Snapshots:
    def __init__(self, directory: str | Path, *, rules: RuleSet, topic_prefix: str, interval: float) -> None:
        self.dir = Path(directory)
        self.path = self.dir / "points-snapshot.pickle"
        self.fingerprint = rules_fingerprint(rules)
        self.prefix = topic_prefix
        self.interval = interval
        self._last = time.monotonic()
        self._child: int | None = None
        self._applied_at_last = 0
        self._saved = 0

    def load(self) -> tuple[Engine, dict[tuple[str, int], int]] | None:
        try:
            with open(self.path, "rb") as f:
                doc = pickle.load(f)
        except FileNotFoundError:
            return None
        except Exception:  # unreadable: the log has everything
            log.exception("points snapshot unreadable; replaying the whole log")
            return None
        if (doc.get("format"), doc.get("rules"), doc.get("prefix")) != (FORMAT, self.fingerprint, self.prefix):
            log.info("points snapshot is for other rules or topics; replaying the whole log")
            return None
        log.info("points snapshot loaded", extra={"events": len(doc["engine"].seen), "offsets": doc["offsets"]})
        return doc["engine"], doc["offsets"]

    @property
    def saved(self) -> int:
        self._reap()
        return self._saved

    def maybe_save(self, engine: Engine, offsets: dict[tuple[str, int], int]) -> None:
        self._reap()
        if self._child is not None or time.monotonic() - self._last < self.interval:
            return
        if engine.events_applied == self._applied_at_last:
            return
        self._last, self._applied_at_last = time.monotonic(), engine.events_applied
        self.dir.mkdir(parents=True, exist_ok=True)
        pid = os.fork()
        if pid == 0:  # the child: write and leave without running any of the parent's cleanup
            code = 1
            try:
                tmp = self.path.with_suffix(f".tmp{os.getpid()}")
                with open(tmp, "wb") as f:
                    pickle.dump({"format": FORMAT, "rules": self.fingerprint, "prefix": self.prefix,
                                 "engine": engine, "offsets": dict(offsets)}, f, protocol=pickle.HIGHEST_PROTOCOL)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self.path)
                code = 0
            finally:
                os._exit(code)
        self._child = pid

    def _reap(self) -> None:
        if self._child is None:
            return
        pid, status = os.waitpid(self._child, os.WNOHANG)
        if pid == 0:
            return  # still writing
        self._child = None
        if os.waitstatus_to_exitcode(status) == 0:
            self._saved += 1
        else:
            log.warning("points snapshot child failed", extra={"status": status})

    async def finish(self) -> None:
        """Let a snapshot being written finish (a shutdown step). If the shutdown cannot wait that long, the
        writer is killed: the previous snapshot stays, since a new one is renamed into place only once complete."""
        try:
            while self._child is not None:
                self._reap()
                if self._child is not None:
                    await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            if self._child is not None:
                os.kill(self._child, signal.SIGKILL)
                os.waitpid(self._child, 0)  # noqa: ASYNC222 - returns at once after SIGKILL
                self._child = None
                log.warning("points snapshot abandoned at shutdown; the previous one stays")
            raise
