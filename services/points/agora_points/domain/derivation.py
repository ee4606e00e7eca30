"""Stage 1 of the points engine: domain events -> awards -> each award's entries, per root (see model.py).

Lifecycle of an award (README): it starts at its source event; a later event of the same *chain* ends it (the
next vote by the same voter on the same post, a revoked acceptance, an unpublished article, a new ranking);
*toggles* switch it off and on (PostDeleted / PostRestored, PostHidden / PostUnhidden, EventCancelled). Every
transition is an entry that names the entry it reverses. Everything an award depends on is about its root, so
one stage-1 partition holding the root sees all of it.
"""

from bisect import insort
from dataclasses import dataclass, field
from typing import Any

from agora_points.domain.model import (
    AWARD,
    REGRANT,
    REVERSAL,
    AwardState,
    BatchResult,
    EntrySpec,
    Fact,
    InMemory,
    NameFact,
    StateMap,
    StatusFact,
    root_of,
)
from agora_points.domain.rules import Rule, RuleSet

# An award ends at the next event of its chain (same chain key), e.g. a voter's next vote on the post.
CHAINS: dict[str, tuple[str, tuple[str, ...]]] = {
    "PostVoted": ("vote", ("post_id", "voter_id")),
    "VoteRetracted": ("vote", ("post_id", "voter_id")),
    "AnswerAccepted": ("accept", ("post_id",)),
    "AcceptanceRevoked": ("accept", ("post_id",)),
    "ArticlePublished": ("publish", ("post_id",)),
    "ArticleUnpublished": ("publish", ("post_id",)),
    "CompetitionRanked": ("ranking", ("event_id",)),
}
# Toggles switch every award about a post / community event off (False) or back on (True). Deletion and
# moderation are separate switches (a post restored while still hidden stays off). An answer's awards also
# hang on its question's switches: deleting or hiding a question takes back what its answers earned (votes,
# acceptance, the asker's bonus), as Stack Overflow does on question deletion; restoring gives it back.
TOGGLES: dict[str, tuple[str, str, bool]] = {
    "PostDeleted": ("post", "post_id", False),
    "PostRestored": ("post", "post_id", True),
    "PostHidden": ("hidden", "post_id", False),
    "PostUnhidden": ("hidden", "post_id", True),
    "EventCancelled": ("cevent", "event_id", False),
}
COMMUNITY_EVENT_SOURCE = "events"
USER_STATUS = {"UserSuspended": "suspended", "UserReinstated": "active", "UserDeleted": "deleted"}
# what the boards show of a member: their display name (gone with the account)
USER_NAMES = ("UserRegistered", "ProfileUpdated", "UserDeleted")


@dataclass(slots=True, eq=False)
class Award:
    event_id: str
    event_type: str
    rule: Rule
    user: str
    base: int
    time_us: int
    scopes: tuple[str, ...]
    chain: tuple | None
    toggles: tuple[tuple, ...]
    once: tuple | None
    revision: int = 0  # the clock when its state was last derived
    emitted: tuple[EntrySpec, ...] = ()


@dataclass(slots=True, eq=False)
class Root:
    """Everything stage 1 knows about one root: the events admitted (by id), the chains and switches with their
    events in order, the once-per groups, and the awards hanging on each. One value of the derivation's state
    map (on disk in a worker, see model.StateMap)."""

    seen: set[str] = field(default_factory=set)
    chain_events: dict[tuple, list[tuple]] = field(default_factory=dict)
    chain_awards: dict[tuple, list[Award]] = field(default_factory=dict)
    toggle_events: dict[tuple, list[tuple]] = field(default_factory=dict)
    toggle_awards: dict[tuple, list[Award]] = field(default_factory=dict)
    once_groups: dict[tuple, list[Award]] = field(default_factory=dict)


def _order(f: Fact) -> tuple:
    return (f.time_us, f.version, f.id)


class Derivation:
    def __init__(self, rules: RuleSet, roots: StateMap[Root] | None = None) -> None:
        self.rules = rules
        self.roots: StateMap[Root] = roots if roots is not None else InMemory()
        self.admitted = 0  # events admitted (duplicates not counted)
        self._scopes: dict[tuple, tuple[str, ...]] = {}
        self._matchers = {t: [(r, _conditions(r)) for r in rs] for t, rs in rules.by_event().items()}
        self._condition_fields = {t: tuple(sorted({c[0] for _, cs in ms for c in cs}))
                                  for t, ms in self._matchers.items()}
        self._match_cache: dict[tuple, list[Rule]] = {}
        # Facts admitted so far, duplicates included: an award's revision is this count when its state was derived,
        # so a stage 1 restored from the same facts (in any batch sizes) stamps the same revisions as the one it
        # replaces, and stage 2 can tell a newer state from an older one across workers.
        self.clock = 0

    @classmethod
    def merged(cls, derivations: "list[Derivation]", roots: StateMap[Root] | None = None) -> "Derivation":
        """One derivation holding the roots of all these (disjoint) ones: what a worker keeps when the
        partitioning under them changed (a broker that came back empty and re-created the topic with another
        count). Its clock is past every revision any of them stamped."""
        out = cls(derivations[0].rules, roots)
        for d in derivations:
            for key, root in d.roots.items():
                out.roots[key] = root
                out.roots.settle()
            out.clock += d.clock
            out.admitted += d.admitted
        return out

    def admit(self, facts: list[Fact], result: BatchResult
              ) -> tuple[list[AwardState], list[StatusFact], list[NameFact]]:
        """New facts (duplicates by id are counted and skipped) -> the states of every award they changed, and
        the user status and display name changes among them."""
        touched: dict[int, tuple[Award, Root]] = {}
        statuses: list[StatusFact] = []
        names: list[NameFact] = []
        roots = self.roots
        self.clock += len(facts)
        for f in facts:
            key = root_of(f)
            root = roots.get(key)
            if root is None:
                root = Root()
                roots[key] = root
            if f.id in root.seen:
                result.duplicates += 1
                continue
            root.seen.add(f.id)
            self.admitted += 1
            result.admitted += 1
            result.by_type[f.type] += 1
            result.applied_times_us.append(f.time_us)
            status = USER_STATUS.get(f.type)
            if status:
                statuses.append(StatusFact(f.data["user_id"], _order(f), status))
            if f.type in USER_NAMES:
                names.append(NameFact(f.data["user_id"], _order(f), f.data.get("display_name")))
            self._admit(f, root, touched)
        states = []
        for award, root in touched.values():
            state = self._derive(award, root)
            if state is not None:
                states.append(state)
        roots.settle()
        return states, statuses, names

    def _admit(self, f: Fact, root: Root, touched: dict[int, tuple[Award, Root]]) -> None:
        data = f.data
        chain = CHAINS.get(f.type)
        chain_key: tuple | None = None
        if chain:
            fields = chain[1]
            chain_key = (chain[0], data.get(fields[0])) if len(fields) == 1 else \
                (chain[0], data.get(fields[0]), data.get(fields[1]))
            events = root.chain_events.get(chain_key)
            item = (f.time_us, f.version, f.id, f.type)
            if events is None:
                root.chain_events[chain_key] = [item]
            else:
                insort(events, item)
                for a in root.chain_awards.get(chain_key, ()):
                    touched[id(a)] = (a, root)
        toggle = TOGGLES.get(f.type)
        if toggle:
            tkey = (toggle[0], data.get(toggle[1]))
            insort(root.toggle_events.setdefault(tkey, []), (*_order(f), toggle[2], f.type))
            for a in root.toggle_awards.get(tkey, ()):
                touched[id(a)] = (a, root)
        for rule in self._matching(f.type, data):
            for user, base in self._recipients(rule, data):
                self._add_award(f, rule, user, base, chain_key, root, touched)

    def _matching(self, event_type: str, data: dict) -> list[Rule]:
        """The rules whose conditions hold; memoised on the values of the fields the conditions read."""
        fields = self._condition_fields.get(event_type)
        if fields is None:
            return []
        key = (event_type, *(data.get(name) for name in fields))
        memo = True
        try:
            return self._match_cache[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable value: match without the memo
            memo = False
        matched = [rule for rule, conditions in self._matchers[event_type] if _holds(conditions, data)]
        if memo and len(self._match_cache) < 100_000:
            self._match_cache[key] = matched
        return matched

    @staticmethod
    def _recipients(rule: Rule, data: dict) -> list[tuple[str, int]]:
        if rule.points_by_place is not None:
            out = []
            for placing in data.get("ranking") or ():
                pts = rule.points_by_place.get(placing.get("place"))
                if pts and placing.get("user_id"):
                    out.append((placing["user_id"], pts))
            return out
        user = data.get(rule.to)
        if not isinstance(user, str) or not user:
            return []  # e.g. an anonymised (deleted) author
        if rule.not_self and data.get(rule.not_self) == user:
            return []
        return [(user, rule.points)]

    def _add_award(self, f: Fact, rule: Rule, user: str, base: int, chain_key, root: Root,
                   touched: dict[int, tuple[Award, Root]]) -> None:
        data = f.data
        toggles = []
        for post in (data.get("post_id"), data.get("question_id")):
            if post:
                toggles += [("post", post), ("hidden", post)]
        if f.source == COMMUNITY_EVENT_SOURCE and data.get("event_id"):
            toggles.append(("cevent", data["event_id"]))
        tags, sig = data.get("tags"), data.get("sig_id")
        scope_key = (tuple(tags) if tags else (), sig)
        scopes = self._scopes.get(scope_key)
        if scopes is None:
            if len(self._scopes) >= 20_000:  # a memo (one tuple shared by the awards of a tag set): keep it small
                self._scopes.clear()
            names = ["global", *(f"tag:{t}" for t in dict.fromkeys(scope_key[0]))]
            if sig:
                names.append(f"sig:{sig}")
            scopes = self._scopes[scope_key] = tuple(names)
        once = (rule.id, *(str(data.get(k)) for k in rule.once_per)) if rule.once_per else None
        award = Award(f.id, f.type, rule, user, base, f.time_us, scopes, chain_key, tuple(toggles), once)
        if chain_key:
            root.chain_awards.setdefault(chain_key, []).append(award)
        for t in toggles:
            root.toggle_awards.setdefault(t, []).append(award)
        if once:
            group = root.once_groups.setdefault(once, [])
            group.append(award)
            for a in group:  # the earliest of the group wins; a late earlier one replaces the winner
                touched[id(a)] = (a, root)
        touched[id(award)] = (award, root)

    # ---- the entries of one award ---------------------------------------------------------------------
    @staticmethod
    def _timeline(a: Award, root: Root) -> list[tuple[str, tuple, str]]:
        """[(kind, (time_us, version, event_id), event type)]: the award's transitions in event-time order."""
        if a.once and min(root.once_groups[a.once], key=lambda x: (x.time_us, x.event_id)) is not a:
            return []
        start = (a.time_us, 0, a.event_id)
        end = None
        if a.chain:
            found = False
            for item in root.chain_events[a.chain]:
                if item[2] == a.event_id:
                    start, found = item[:3], True
                elif found:
                    end = item
                    break
        state = {}
        changes = []
        for t in a.toggles:
            for item in root.toggle_events.get(t, ()):
                if item[:3] <= start:
                    state[t] = item[3]
                elif end is None or item[:3] < end[:3]:
                    changes.append((item, t))
        active = all(state.values())
        out = [(AWARD, start, a.event_type)] if active else []
        for item, t in sorted(changes):
            state[t] = item[3]
            now = all(state.values())
            if now != active:
                out.append((REGRANT if now else REVERSAL, item[:3], item[4]))
                active = now
        if end is not None and active:
            out.append((REVERSAL, end[:3], end[3]))
        return out

    @staticmethod
    def _simple(a: Award, root: Root) -> bool:
        if a.once and len(root.once_groups[a.once]) > 1:
            return False
        if a.chain and root.chain_events[a.chain][-1][2] != a.event_id:
            return False
        toggle_events = root.toggle_events
        return all(t not in toggle_events for t in a.toggles)

    def _derive(self, a: Award, root: Root) -> AwardState | None:
        """The award's state if its entries changed since it was last emitted, else None."""
        rule_id = a.rule.id
        if not a.emitted and self._simple(a, root):
            # the common case: a new award, last of its chain, nothing toggled: one plain award entry
            specs = (EntrySpec((a.event_id, rule_id), (a.time_us, 1, a.event_id, rule_id, a.event_id), AWARD,
                               a.base, a.time_us, a.event_id, a.event_type, None, False),)
        else:
            wanted: list[tuple] = []
            last_on = None
            for kind, (time_us, _v, event_id), event_type in self._timeline(a, root):
                key = (a.event_id, rule_id) if kind == AWARD else (event_id, rule_id, a.event_id)
                # at one instant, undo the old before applying the new; never sort before the reversed entry
                rank = 1 if kind != REVERSAL else (0 if time_us > a.time_us else 2)
                time_us = max(time_us, a.time_us)
                sk = (time_us, rank, event_id, rule_id, a.event_id)
                wanted.append((key, sk, kind, time_us, event_id, event_type, last_on if kind == REVERSAL else None))
                if kind != REVERSAL:
                    last_on = key
            reversed_keys = {w[6] for w in wanted if w[6] is not None}
            specs = tuple(
                EntrySpec(key, sk, kind, -a.base if kind == REVERSAL else a.base, time_us, event_id, event_type,
                          reverses, key in reversed_keys)
                for key, sk, kind, time_us, event_id, event_type, reverses in wanted)
            if specs == a.emitted:
                return None
        a.emitted = specs
        a.revision = self.clock
        return AwardState(a.user, a.event_id, a.event_type, rule_id, a.rule.cap_exempt, a.scopes, a.revision, specs)


def _conditions(rule: Rule) -> tuple:
    return tuple((name, frozenset(v) if isinstance(v, list) else v, isinstance(v, list))
                 for name, v in rule.when.items())


def _holds(conditions: tuple, data: dict[str, Any]) -> bool:
    for name, wanted, is_set in conditions:
        value = data.get(name)
        if (value not in wanted) if is_set else (value != wanted):
            return False
    return True
