"""What the points rules give for what a scenario did, computed in the test, independently of the points service.

The scenario records each scoring action as a `Fact` (the event type and the fields the rules read, as the
client knows them). This module applies the rules file to those facts: matching (`when`, `not_self`,
`once_per`), the daily cap, the floor, reversals (a retracted vote gives nothing), scopes (global, tag:<t>,
sig:<id>) and honor titles.

Order: the scenario runs in phases (one after another: a phase's facts all happen after the previous phase's),
but inside a phase actions run concurrently, so their order is unknown. The figures are exact only when that
order cannot matter; `expected()` checks that and raises `AmbiguousScenario` otherwise:
- a member whose capped awards exceed the daily cap must have them all in the same scopes (which award is cut
  then changes nothing on any board);
- negative entries never take a member below the floor (the scenario places them in the last phase).
"""

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

RULES_FILE = Path(__file__).resolve().parents[2] / "services/points/agora_points/rules/rules-v2.yaml"


class AmbiguousScenario(AssertionError):
    """The scenario is such that the figures would depend on the order of concurrent actions."""


@dataclass
class Fact:
    type: str
    data: dict[str, Any]
    phase: int
    retracted: bool = False  # a vote later retracted: its award is reversed


@dataclass
class Award:
    user: str
    points: int
    capped: bool  # counts toward the daily cap
    scopes: tuple[str, ...]
    rule: str
    phase: int


@dataclass
class Expected:
    totals: dict[str, int]
    boards: dict[str, dict[str, int]]  # scope -> user -> points (only users with points > 0)
    titles: dict[str, set[str]]
    awards: list[Award] = field(default_factory=list)

    def board(self, scope: str = "global") -> list[tuple[int, str, int]]:
        """[(rank, user, points)]: competition ranks (1 + the members with more points), ties by user id, as the
        API documents."""
        rows = sorted(((-p, u) for u, p in self.boards.get(scope, {}).items() if p > 0))
        out, rank, last = [], 0, None
        for i, (neg, user) in enumerate(rows):
            if neg != last:
                rank, last = i + 1, neg
            out.append((rank, user, -neg))
        return out


def load_rules(path: Path = RULES_FILE) -> dict:
    return yaml.safe_load(path.read_text())


def _matches(rule: dict, data: dict) -> bool:
    for name, wanted in (rule.get("when") or {}).items():
        value = data.get(name)
        if (isinstance(wanted, list) and value not in wanted) or (not isinstance(wanted, list) and value != wanted):
            return False
    return True


def scopes_of(data: dict) -> tuple[str, ...]:
    scopes = ["global", *(f"tag:{t}" for t in dict.fromkeys(data.get("tags") or ()))]
    if data.get("sig_id"):
        scopes.append(f"sig:{data['sig_id']}")
    return tuple(scopes)


def awards_of(facts: list[Fact], rules: dict) -> list[Award]:
    awards, once_seen = [], set()
    for fact in facts:
        if fact.retracted:
            continue  # awarded, then reversed: nets to zero on every board and does not use the cap
        for rule in rules["rules"]:
            if rule["event"] != fact.type or not _matches(rule, fact.data):
                continue
            if "points_by_place" in rule:
                raise NotImplementedError("rankings are not part of the scenario")
            user = fact.data.get(rule["to"])
            if not user or (rule.get("not_self") and fact.data.get(rule["not_self"]) == user):
                continue
            if rule.get("once_per"):
                key = (rule["id"], *(fact.data[k] for k in rule["once_per"]))
                if key in once_seen:
                    continue
                once_seen.add(key)
            points = rule["points"]
            awards.append(Award(user, points, capped=points > 0 and not rule.get("cap_exempt", False),
                                scopes=scopes_of(fact.data), rule=rule["id"], phase=fact.phase))
    return awards


def expected(facts: list[Fact], rules: dict | None = None) -> Expected:
    """Totals, boards per scope and titles. All facts are assumed on one UTC day and in one ISO week."""
    rules = rules or load_rules()
    cap, floor = rules["daily_cap"], rules["floor"]
    awards = awards_of(facts, rules)
    by_user: dict[str, list[Award]] = defaultdict(list)
    for a in awards:
        by_user[a.user].append(a)
    totals: dict[str, int] = {}
    boards: dict[str, Counter] = defaultdict(Counter)
    for user, mine in by_user.items():
        capped = [a for a in mine if a.capped]
        if sum(a.points for a in capped) > cap and len({a.scopes for a in capped}) > 1:
            raise AmbiguousScenario(f"{user} exceeds the daily cap with awards in different scopes")
        room = cap
        running = 0
        for phase in sorted({a.phase for a in mine}):
            now = [a for a in mine if a.phase == phase]
            # inside a phase the order is unknown: the floor must hold even if every negative comes first
            if running + sum(a.points for a in now if a.points < 0) < floor:
                raise AmbiguousScenario(f"{user} could reach the floor in phase {phase}")
            for a in now:
                points = min(a.points, room) if a.capped else a.points
                if a.capped:
                    room -= points
                running += points
                for scope in a.scopes:
                    boards[scope][user] += points
        totals[user] = running
    titles = {user: {t["title"] for t in rules["titles"] if total >= t["threshold"]} for user, total in totals.items()}
    return Expected(totals, {s: {u: p for u, p in b.items() if p > 0} for s, b in boards.items()}, titles, awards)


def entry_counts(facts: list[Fact], rules: dict | None = None) -> Counter:
    """Ledger entries per member: one per award (even one the cap cut to 0), plus a reversal for each award of
    a retracted vote. A replayed or redelivered event must add none."""
    rules = rules or load_rules()
    counts = Counter(a.user for a in awards_of(facts, rules))
    retracted = [Fact(f.type, f.data, f.phase) for f in facts if f.retracted]
    for a in awards_of(retracted, rules):
        counts[a.user] += 2
    return counts
