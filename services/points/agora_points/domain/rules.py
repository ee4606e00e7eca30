"""The rules file: a versioned YAML document validated into a `RuleSet`. Pure: no I/O except `load_rules`."""

from pathlib import Path
from typing import Any

import yaml
from agora_common.events import EVENT_TYPES
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

DEFAULT_RULES_FILE = Path(__file__).resolve().parent.parent / "rules" / "rules-v2.yaml"


class RulesError(ValueError):
    """The rules document is not valid; the message says where."""


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    description: str
    event: str
    when: dict[str, Any] = Field(default_factory=dict)
    to: str
    not_self: str | None = None
    points: int | None = None
    points_by_place: dict[int, int] | None = None
    cap_exempt: bool = False
    once_per: list[str] | None = None

    @model_validator(mode="after")
    def _check(self) -> "Rule":
        cls = EVENT_TYPES.get(self.event)
        if cls is None:
            raise ValueError(f"rule {self.id}: unknown event type {self.event!r}")
        fields = cls.model_fields
        for name in [self.to, *(self.when or {}), *([self.not_self] if self.not_self else []), *(self.once_per or [])]:
            if name not in fields:
                raise ValueError(f"rule {self.id}: {self.event} has no field {name!r}")
        if (self.points is None) == (self.points_by_place is None):
            raise ValueError(f"rule {self.id}: give exactly one of points or points_by_place")
        if self.points_by_place is not None and self.to != "ranking":
            raise ValueError(f"rule {self.id}: points_by_place needs to: ranking")
        return self

    def matches(self, data: dict) -> bool:
        for name, wanted in self.when.items():
            value = data.get(name)
            if isinstance(wanted, list):
                if value not in wanted:
                    return False
            elif value != wanted:
                return False
        return True


class Title(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str = Field(min_length=1, max_length=64)
    threshold: int = Field(gt=0)


class RuleSet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(min_length=1, max_length=64)
    description: str = ""
    daily_cap: int | None = Field(default=200, ge=1)  # None: no cap
    floor: int | None = Field(default=0, le=0)  # None: no floor
    rules: list[Rule]
    titles: list[Title] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> "RuleSet":
        ids = [r.id for r in self.rules]
        if len(ids) != len(set(ids)):
            raise ValueError("rule ids must be unique")
        if len({t.title for t in self.titles}) != len(self.titles):
            raise ValueError("title names must be unique")
        return self

    def by_id(self) -> dict[str, Rule]:
        return {rule.id: rule for rule in self.rules}

    def by_event(self) -> dict[str, list[Rule]]:
        out: dict[str, list[Rule]] = {}
        for rule in self.rules:
            out.setdefault(rule.event, []).append(rule)
        return out


def parse_rules(text: str | bytes) -> RuleSet:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RulesError(f"not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise RulesError("the rules document must be a mapping")
    try:
        return RuleSet.model_validate(doc)
    except ValidationError as exc:
        raise RulesError("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from exc


def load_rules(path: str | Path | None = None) -> RuleSet:
    return parse_rules(Path(path or DEFAULT_RULES_FILE).read_text())
