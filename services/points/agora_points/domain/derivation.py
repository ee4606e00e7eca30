"""Stage 1 of the points engine: domain events -> awards -> each award's entries, per root (see model.py).

Lifecycle of an award (README): it starts at its source event; a later event of the same *chain* ends it (the
next vote by the same voter on the same post, a revoked acceptance, an unpublished article, a new ranking);
*toggles* switch it off and on (PostDeleted / PostRestored, PostHidden / PostUnhidden, EventCancelled). Every
transition is an entry that names the entry it reverses. Everything an award depends on is about its root, so
one stage-1 partition holding the root sees all of it.
"""

from bisect import insort
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from agora_points.domain.model import (
    AWARD,
    REGRANT,
    REVERSAL,
    AwardState,
    BatchResult,
    EntrySpec,
    Fact,
    InMemory,
    InMemoryIndex,
    NameFact,
    SortedIndex,
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
    root: str
    chain: tuple | None
    toggles: tuple[tuple, ...]
    once: tuple | None
    revision: int = 0  # the clock when its state was last derived
    emitted: tuple[EntrySpec, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.event_id}\x00{self.rule.id}\x00{self.user}"


@dataclass(slots=True, eq=False)
class Root:
    """What stage 1 keeps of a root itself: the events of its switches, in order (few: deletions, moderation).
    A root that was never switched has none stored."""

    toggle_events: dict[tuple, list[tuple]] = field(default_factory=dict)


@dataclass(slots=True, eq=False)
class Chain:
    """The events of one chain in order (a voter's votes on a post, a post's acceptances), and its awards."""

    events: list[tuple]  # (time_us, version, event id, event type)
    awards: list[str]  # Award.key


def joined(key: tuple) -> str:
    """A chain, switch or once-per key as one string, for the state maps."""
    return "\x00".join(map(str, key))


def switch_subject(toggle: tuple) -> str:
    """What a switch flips on, the key of the switch index: a post (deleted or hidden: an award on a post has
    both switches, so one index entry serves both) or a community event."""
    kind, subject = toggle
    return joined(("cevent" if kind == "cevent" else "post", subject))


class DerivationState(NamedTuple):
    """Where stage 1 keeps what it knows, each by its own key, so that an event reads only what it is about,
    not its whole thread: the switched roots, the ids admitted (for duplicates), the chains, the awards (by
    Award.key), the awards hanging on each switch (an index: a deleted post's awards are read when it is
    deleted, never before), and the once-per groups (award keys)."""

    roots: StateMap[Root]
    seen: StateMap[int]
    chains: StateMap[Chain]
    awards: StateMap[Award]
    switched: SortedIndex  # (switch_subject, (award key,)) -> (award key,)
    once: StateMap[list[str]]

    @classmethod
    def in_memory(cls) -> "DerivationState":
        return cls(InMemory(), InMemory(), InMemory(), InMemory(), InMemoryIndex(), InMemory())


def _order(f: Fact) -> tuple:
    return (f.time_us, f.version, f.id)


class Derivation:
    def __init__(self, rules: RuleSet, state: DerivationState | None = None) -> None:
        self.rules = rules
        self.state = state if state is not None else DerivationState.in_memory()
        self.roots, self.seen, self.chains, self.awards, self.switched, self.once = self.state
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
    def merged(cls, derivations: "list[Derivation]", state: DerivationState | None = None) -> "Derivation":
        """One derivation holding the roots of all these (disjoint) ones: what a worker keeps when the
        partitioning under them changed (a broker that came back empty and re-created the topic with another
        count). Its clock is past every revision any of them stamped."""
        out = cls(derivations[0].rules, state)
        for d in derivations:
            for source, target in ((d.roots, out.roots), (d.seen, out.seen), (d.chains, out.chains),
                                   (d.once, out.once), (d.awards, out.awards)):
                for key, value in source.items():
                    target[key] = value
                    out._settle()
            for award in d.awards.values():
                for subject in {switch_subject(t) for t in award.toggles}:
                    out.switched.put(subject, (award.key,), (award.key,))
            out.clock += d.clock
            out.admitted += d.admitted
        return out

    def snapshot_meta(self) -> dict:
        """What this derivation keeps outside its maps, for a state snapshot."""
        return {"admitted": self.admitted, "clock": self.clock}

    def load_meta(self, meta: dict) -> None:
        self.admitted, self.clock = meta["admitted"], meta["clock"]

    def clear(self) -> None:
        """Forget every root (a partition that moved away)."""
        for state_map in (self.roots, self.seen, self.chains, self.awards, self.switched, self.once):
            state_map.clear()

    def _settle(self) -> None:
        for state_map in (self.roots, self.seen, self.chains, self.awards, self.once):
            state_map.settle()

    def admit(self, facts: list[Fact], result: BatchResult
              ) -> tuple[list[AwardState], list[StatusFact], list[NameFact]]:
        """New facts (duplicates by id are counted and skipped) -> the states of every award they changed, and
        the user status and display name changes among them."""
        touched: dict[str, Award] = {}
        statuses: list[StatusFact] = []
        names: list[NameFact] = []
        seen = self.seen
        self.clock += len(facts)
        for f in facts:
            if seen.get(f.id) is not None:
                result.duplicates += 1
                continue
            seen[f.id] = 1
            self.admitted += 1
            result.admitted += 1
            result.by_type[f.type] += 1
            result.applied_times_us.append(f.time_us)
            status = USER_STATUS.get(f.type)
            if status:
                statuses.append(StatusFact(f.data["user_id"], _order(f), status))
            if f.type in USER_NAMES:
                names.append(NameFact(f.data["user_id"], _order(f), f.data.get("display_name")))
            self._admit(f, touched)
        states = []
        for award in touched.values():
            state = self._derive(award)
            if state is not None:
                states.append(state)
        self._settle()
        return states, statuses, names

    def _award(self, key: str) -> Award:
        award = self.awards.get(key)
        assert award is not None, key  # every key in a chain, switch or group was stored with its award
        return award

    def _admit(self, f: Fact, touched: dict[str, Award]) -> None:
        data = f.data
        chain = CHAINS.get(f.type)
        chain_key: tuple | None = None
        if chain:
            fields = chain[1]
            chain_key = (chain[0], data.get(fields[0])) if len(fields) == 1 else \
                (chain[0], data.get(fields[0]), data.get(fields[1]))
            item = (f.time_us, f.version, f.id, f.type)
            chain_id = joined(chain_key)
            found = self.chains.get(chain_id)
            if found is None:
                self.chains[chain_id] = Chain([item], [])
            else:
                insort(found.events, item)
                for key in found.awards:
                    touched[key] = self._award(key)
        root_key = root_of(f)
        toggle = TOGGLES.get(f.type)
        if toggle:
            tkey = (toggle[0], data.get(toggle[1]))
            root = self.roots.get(root_key)
            if root is None:
                root = self.roots[root_key] = Root()
            insort(root.toggle_events.setdefault(tkey, []), (*_order(f), toggle[2], f.type))
            for (key,) in self.switched.scan(switch_subject(tkey)):
                touched[key] = self._award(key)
        for rule in self._matching(f.type, data):
            for user, base in self._recipients(rule, data):
                self._add_award(f, rule, user, base, chain_key, root_key, touched)

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

    def _add_award(self, f: Fact, rule: Rule, user: str, base: int, chain_key: tuple | None, root_key: str,
                   touched: dict[str, Award]) -> None:
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
        award = Award(f.id, f.type, rule, user, base, f.time_us, scopes, root_key, chain_key, tuple(toggles), once)
        key = award.key
        if key in touched:
            return  # one event gives one award per rule and user (a ranking naming a user twice: the first)
        self.awards[key] = award
        touched[key] = award
        if chain_key:
            self._chain(award).awards.append(key)
        for subject in {switch_subject(t) for t in toggles}:
            self.switched.put(subject, (key,), (key,))
        if once:
            once_id = joined(once)
            group = self.once.get(once_id)
            if group is None:
                group = self.once[once_id] = []
            group.append(key)
            for other in group:  # the earliest of the group wins; a late earlier one replaces the winner
                touched[other] = self._award(other)

    # ---- the entries of one award ---------------------------------------------------------------------
    def _chain(self, a: Award) -> Chain:
        chain = self.chains.get(joined(a.chain))  # type: ignore[arg-type]
        assert chain is not None, a.chain  # stored when its first event was admitted
        return chain

    def _switches(self, a: Award) -> dict[tuple, list[tuple]]:
        root = self.roots.get(a.root)
        return root.toggle_events if root is not None else {}

    def _winner(self, a: Award) -> bool:
        """Of its once-per group, the earliest (by time, then event id) wins."""
        group = self.once.get(joined(a.once))  # type: ignore[arg-type]
        assert group is not None, a.once
        best = min((self._award(key) for key in group), key=lambda x: (x.time_us, x.event_id))
        return best.key == a.key

    def _timeline(self, a: Award) -> list[tuple[str, tuple, str]]:
        """[(kind, (time_us, version, event_id), event type)]: the award's transitions in event-time order."""
        if a.once and not self._winner(a):
            return []
        start = (a.time_us, 0, a.event_id)
        end = None
        if a.chain:
            found = False
            for item in self._chain(a).events:
                if item[2] == a.event_id:
                    start, found = item[:3], True
                elif found:
                    end = item
                    break
        state = {}
        changes = []
        switches = self._switches(a)
        for t in a.toggles:
            for item in switches.get(t, ()):
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

    def _simple(self, a: Award) -> bool:
        if a.once and len(self.once.get(joined(a.once)) or ()) > 1:
            return False
        if a.chain and self._chain(a).events[-1][2] != a.event_id:
            return False
        switches = self._switches(a)
        return all(t not in switches for t in a.toggles)

    def _derive(self, a: Award) -> AwardState | None:
        """The award's state if its entries changed since it was last emitted, else None."""
        rule_id = a.rule.id
        if not a.emitted and self._simple(a):
            # the common case: a new award, last of its chain, nothing toggled: one plain award entry
            specs = (EntrySpec((a.event_id, rule_id), (a.time_us, 1, a.event_id, rule_id, a.event_id), AWARD,
                               a.base, a.time_us, a.event_id, a.event_type, None, False),)
        else:
            wanted: list[tuple] = []
            last_on = None
            for kind, (time_us, _v, event_id), event_type in self._timeline(a):
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
