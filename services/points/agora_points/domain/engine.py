"""The points engine: a pure function from a SET of domain events to ledgers and leaderboards, in two stages.

    facts --(by root)--> Derivation --AwardState (by user)--> Book --> ledgers, totals, boards
            stage 1: chains, switches, once-per,       stage 2: daily cap, floor, totals,
            each award's entries                        boards, exclusions, as-of

Why it cannot double-count: every event is admitted once by id; every award is keyed by (source event, rule,
user); every derived entry (award, reversal, re-grant) is keyed by the events that produce it; an award's state
replaces what stage 2 had for it (a later revision wins, a repeated one changes nothing); and the effective
points of each entry (daily cap, floor) are recomputed deterministically in event-time order. So duplicates,
redeliveries, replays and out-of-order arrival all converge on the same ledger: the one a fresh engine computes
from the same events. The stages meet only through `AwardState`s and `StatusFact`s (model.py): stage 1 can be
split by root and stage 2 by user (a test runs them split and compares).
"""

import hashlib

from agora_points.domain.book import Book, BookState, Entry, Ledger
from agora_points.domain.derivation import Derivation, DerivationState
from agora_points.domain.model import BatchResult, Fact, StateMap
from agora_points.domain.rules import RuleSet

# Raised when the engine's semantics or state layout change: its topics, groups and boards are then new ones.
# 2: moderation toggles, question switches on answers' awards, floor debt. 3: boards without a sorted view.
# 4: two stages (derivation by root, book by user). 5: display names for the boards. 6: revisions from the
# stage-1 clock (partitioned workers).
ENGINE_VERSION = 6


def rules_fingerprint(rules: RuleSet) -> str:
    """The rules and the engine version: what the boards' namespace and the internal topics are named by, so
    figures under other rules or another engine never mix."""
    return hashlib.sha256(f"engine {ENGINE_VERSION}\n{rules.model_dump_json()}".encode()).hexdigest()


class Engine:
    """Both stages in one process, over all roots and all users."""

    def __init__(self, rules: RuleSet, derivation: DerivationState | None = None,
                 book: BookState | None = None) -> None:
        self.rules = rules
        self.derivation = Derivation(rules, derivation)
        self.book = Book(rules, book)
        self.events_applied = 0

    def apply(self, facts: list[Fact]) -> BatchResult:
        result = BatchResult()
        states, statuses, names = self.derivation.admit(facts, result)
        self.book.apply(states, statuses, result, names)
        self.events_applied += result.admitted
        return result

    # ---- what the processor and the queries read -----------------------------------------------------
    @property
    def ledgers(self) -> StateMap[Ledger]:
        return self.book.ledgers

    def boards(self) -> dict[tuple[str, str], dict[str, int]]:
        return self.book.boards()

    @property
    def excluded(self) -> set[str]:
        return self.book.excluded

    @property
    def tracking(self) -> bool:
        return self.book.tracking

    @tracking.setter
    def tracking(self, value: bool) -> None:
        self.book.tracking = value

    def total(self, user: str) -> int:
        return self.book.total(user)

    def window_points(self, user: str, scope: str, window_key: str) -> int:
        return self.book.window_points(user, scope, window_key)

    def totals(self) -> dict[str, int]:
        return self.book.totals()

    def ordered(self, user: str) -> list[Entry]:
        return self.book.ordered(user)

    def as_of(self, user: str, t_us: int) -> tuple[int, list[Entry]]:
        return self.book.as_of(user, t_us)

    def take_board_changes(self) -> dict[tuple[str, str], dict[str, int]]:
        return self.book.take_board_changes()

    def board_state(self):
        return self.book.board_state()

    def take_name_changes(self) -> dict[str, str | None]:
        return self.book.take_name_changes()

    def name_state(self) -> dict[str, str | None]:
        return self.book.name_state()
