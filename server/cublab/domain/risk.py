"""Risk classification of proposals and the human decision each class requires.

The rules are the reference's (confighub.md section 2), with the numbers and the
field table in the policy file (`promotion:`):

- Base risk: the highest risk of the changed fields, looked up in the field table.
  Creating a new unit is MEDIUM; deleting a unit is HIGH.
- Production: the reference gives both a per-field "prod" column and a "production
  +1" elevator. In its table every prod value is exactly base +1, so they are one rule
  written twice; applying both would double count (lambdaMemory would be HIGH in
  production, which the table says is MEDIUM). So in a production space each field
  takes its `production` risk when the table gives one, and base +1 otherwise. The
  elevator is applied once, per field, before the maximum is taken.
- Elevators: fields from 2+ unrelated concerns +1; a batch of 2-5 resources +1, 6+
  HIGH; deletion (of the unit, or a `remove` op when `removal_is_deletion`),
  cross-account (a change to an account id field) and security fields always HIGH.
- Capped at HIGH.

Field matching: a changed JSON Pointer maps to the deepest path segment that names a
field in the table, so `/lambdaMemory`, `/spec/lambdaMemory` and `/spec/lambdaMemory/0`
all match `lambdaMemory`. A table key starting with "/" is instead a glob (fnmatch)
over the whole pointer, for schemas where a bare name would be ambiguous.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from pydantic import Field, model_validator

from cublab.domain.base import Duration, Strict
from cublab.domain.durations import format_duration
from cublab.domain.patch import changed_paths, patch_touches_deletion
from cublab.domain.pointers import child, tokens

Level = Literal["LOW", "MEDIUM", "HIGH"]
LEVELS: tuple[Level, ...] = ("LOW", "MEDIUM", "HIGH")
_RANK = {name: i for i, name in enumerate(LEVELS)}
HIGH_RANK = _RANK["HIGH"]


class FieldRisk(Strict):
    """One row of the field table."""

    risk: Level = Field(description="risk of changing this field outside production")
    production: Level | None = Field(default=None, description="risk in a production space; base +1 when absent")
    concern: str = Field(min_length=1, description="what the field is about: compute, identity, location, ...")


class PromotionPolicy(Strict):
    """The `promotion:` section of the policy file: proposal lifetimes, risk rules and decisions."""

    proposal_expiry: Duration = Field(description="a pending proposal expires (auto-rejects) after this")
    low_objection_window: Duration = Field(description="LOW: a human may object within this, then it may apply")
    medium_ack_window: Duration = Field(description="MEDIUM: one human acknowledgment is expected within this")
    medium_escalate_after: Duration = Field(description="MEDIUM: unacknowledged this long, it is escalated")
    medium_as_high_after: Duration = Field(description="MEDIUM: unacknowledged this long, it needs a HIGH approval")
    high_escalations: list[Duration] = Field(description="HIGH: escalate when still undecided after each of these")
    high_approvals: int = Field(ge=1, le=10, description="distinct human approvals a HIGH proposal needs")
    production_high_approvals: int = Field(ge=1, le=10, description="distinct approvals for HIGH in production")
    tier_label: str = Field(min_length=1, description="space label holding the tier")
    production_tiers: list[str] = Field(min_length=1, description="tier values that count as production")
    signed_decision_tiers: list[str] = Field(
        default_factory=lambda: ["production"],
        description="tier values whose proposals need every human decision signed with the reviewer's registered SSH key",
    )
    default_field_risk: Level = Field(description="risk of a changed field that is not in the table")
    default_concern: str = Field(min_length=1, description="concern of a field that is not in the table")
    new_unit_risk: Level = Field(description="base risk of proposing a unit that does not exist yet")
    removal_is_deletion: bool = Field(description="a `remove` op counts as a deletion (always HIGH)")
    cross_account_fields: list[str] = Field(description="fields naming an account; changing one is cross-account")
    security_fields: list[str] = Field(description="globs over path segments (case-insensitive) that are security")
    security_concerns: list[str] = Field(description="concerns in the field table that count as security")
    related_concerns: list[list[str]] = Field(description="groups of concerns that do not count as unrelated")
    batch_elevate_from: int = Field(ge=2, description="a batch of at least this many resources is +1")
    batch_high_from: int = Field(ge=2, description="a batch of at least this many resources is HIGH")
    fields: dict[str, FieldRisk] = Field(description="the field table: field name (or /glob) to risk and concern")

    @model_validator(mode="after")
    def _consistent(self) -> PromotionPolicy:
        if self.medium_as_high_after < self.medium_escalate_after:
            raise ValueError("promotion.medium_as_high_after must not be shorter than medium_escalate_after")
        if self.batch_high_from <= self.batch_elevate_from:
            raise ValueError("promotion.batch_high_from must be greater than batch_elevate_from")
        if self.production_high_approvals < self.high_approvals:
            raise ValueError("promotion.production_high_approvals must be at least high_approvals")
        return self

    def is_production(self, labels: Mapping[str, str] | None) -> bool:
        """Whether a space with these labels is production (its tier label is a production tier)."""
        if not labels:
            return False
        return labels.get(self.tier_label) in self.production_tiers

    def requires_signed_decisions(self, labels: Mapping[str, str] | None) -> bool:
        """Whether decisions on proposals into a space with these labels must be signed (`signed_decision_tiers`)."""
        if not labels:
            return False
        return labels.get(self.tier_label) in self.signed_decision_tiers


@dataclass(frozen=True)
class RiskAssessment:
    level: Level
    rationale: list[str]
    fields: list[str] = field(default_factory=list)  # table fields (or "path (unclassified)") that set base risk
    concerns: list[str] = field(default_factory=list)  # distinct concerns touched


@dataclass(frozen=True)
class DecisionRequirement:
    kind: Literal["objection_window", "acknowledgment", "approval"]
    level: Level
    approvals_needed: int  # distinct human decisions required (0 for an objection window)
    window: timedelta | None  # LOW: objection window; MEDIUM: acknowledgment window; HIGH: None
    escalations: tuple[timedelta, ...] = ()  # after each of these undecided, escalate
    as_high_after: timedelta | None = None  # MEDIUM only: unacknowledged this long, it needs HIGH approval
    production: bool = False

    def describe(self) -> str:
        """One sentence a reviewer (or an agent) can act on."""
        if self.kind == "objection_window":
            return (
                f"LOW risk: may be applied once {format_duration(self.window or timedelta())} have passed "
                "without a human objection."
            )
        if self.kind == "acknowledgment":
            tail = f" (escalated after {format_duration(self.escalations[0])}" if self.escalations else " ("
            tail += f", treated as HIGH after {format_duration(self.as_high_after)})" if self.as_high_after else ")"
            return (
                f"MEDIUM risk: needs {self.approvals_needed} human acknowledgment within "
                f"{format_duration(self.window or timedelta())}{tail}."
            )
        where = " in a production space" if self.production else ""
        what = "explicit human approval" if self.approvals_needed == 1 else "explicit approvals from distinct humans"
        return f"HIGH risk{where}: needs {self.approvals_needed} {what}; the proposer never counts."


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _field_of(pointer: str, policy: PromotionPolicy) -> str | None:
    for key in policy.fields:
        if key.startswith("/") and fnmatch.fnmatchcase(pointer, key):
            return key
    for segment in reversed(tokens(pointer)):
        if segment in policy.fields:
            return segment
    return None


def _security_hit(pointer: str, policy: PromotionPolicy) -> str | None:
    """The first path segment matching a security glob; names are compared without case or separators."""
    for segment in tokens(pointer):
        name = _norm(segment)
        for pattern in policy.security_fields:
            if fnmatch.fnmatchcase(name, pattern.lower()):
                return segment
    return None


def _nested_paths(ops: list[dict[str, Any]]) -> list[str]:
    """Changed paths plus every path inside added or replaced values, so `add /spec {iam: ...}` is seen."""
    out = list(changed_paths(ops))

    def walk(node: Any, base: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                here = child(base, key)
                out.append(here)
                walk(value, here)
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{base}/{index}")

    for op in ops:
        if op.get("op") in ("add", "replace") and "value" in op:
            walk(op["value"], op["path"])
    return list(dict.fromkeys(out))


def _concern_groups(concerns: list[str], policy: PromotionPolicy) -> list[str]:
    """Concerns after merging related ones; each group is named by its first member."""
    groups: dict[str, str] = {}
    for concern in concerns:
        group = next((g[0] for g in policy.related_concerns if concern in g), concern)
        groups.setdefault(group, concern)
    return list(groups.values())


def classify(
    ops: list[dict[str, Any]],
    *,
    production: bool,
    new_unit: bool,
    deletes_unit: bool = False,
    batch_size: int = 1,
    policy: PromotionPolicy,
) -> RiskAssessment:
    """The risk class of a change, with a rationale naming each step (see the module docstring).

    A new unit is rated as a whole (`new_unit_risk`): every field is new, so the per-field
    table and the concerns elevator do not apply, but security fields and production still do.
    """
    why: list[str] = []
    paths = changed_paths(ops)
    matched: list[str] = []
    concerns: list[str] = []

    if deletes_unit:
        rank = HIGH_RANK
        why.append("base HIGH: the change deletes the unit")
    elif new_unit:
        rank = _RANK[policy.new_unit_risk]
        why.append(f"base {policy.new_unit_risk}: the change creates a new unit")
        if production:
            rank += 1
            why.append(f"production tier: +1 -> {_name(rank)}")
    else:
        rank = 0
        best: str | None = None
        for pointer in paths:
            name = _field_of(pointer, policy)
            if name is None:
                risk, concern, prod = policy.default_field_risk, policy.default_concern, None
                label = f"{pointer} (unclassified)"
            else:
                row = policy.fields[name]
                risk, concern, prod, label = row.risk, row.concern, row.production, name
            field_rank = _RANK[risk]
            if name:
                note = f"{label} at {pointer}: {risk} ({concern})"
            else:
                note = f"{label}: {risk} (default for fields not in the table)"
            if production:
                field_rank = _RANK[prod] if prod else min(field_rank + 1, HIGH_RANK)
                how = "production column" if prod else "production tier +1"
                note += f", {_name(field_rank)} in production ({how})"
            why.append(note)
            if label not in matched:
                matched.append(label)
            if concern not in concerns:
                concerns.append(concern)
            if best is None or field_rank > rank:
                rank, best = field_rank, label
        if best is None:
            why.append("base LOW: no field changes")
        else:
            why.append(f"base {_name(rank)}: the highest changed field is {best}")
        groups = _concern_groups(concerns, policy)
        if len(groups) >= 2:
            rank += 1
            why.append(f"{len(groups)} unrelated concerns ({', '.join(groups)}): +1 -> {_name(rank)}")

    if batch_size >= policy.batch_high_from:
        rank = max(rank, HIGH_RANK)
        why.append(f"batch of {batch_size} resources (>= {policy.batch_high_from}): HIGH")
    elif batch_size >= policy.batch_elevate_from:
        rank += 1
        why.append(f"batch of {batch_size} resources: +1 -> {_name(rank)}")

    always_high: list[str] = []
    if not deletes_unit and policy.removal_is_deletion and patch_touches_deletion(ops):
        removed = [op["path"] for op in ops if op.get("op") == "remove"]
        always_high.append(f"deletion ({', '.join(removed)} removed): always HIGH")
    if not new_unit:
        accounts = {_norm(a) for a in policy.cross_account_fields}
        crossed = [p for p in paths if any(_norm(s) in accounts for s in tokens(p))]
        if crossed:
            always_high.append(f"cross-account ({', '.join(crossed)} changed): always HIGH")
    security = [p for p in _nested_paths(ops) if _security_hit(p, policy)]
    sec_concern = [c for c in concerns if c in policy.security_concerns]
    if security or sec_concern:
        shown = security[:3] + ([f"{len(security) - 3} more"] if len(security) > 3 else [])
        named = ", ".join(shown) if security else f"concern {', '.join(sec_concern)}"
        always_high.append(f"security change ({named}): always HIGH")
    for reason in always_high:
        rank = max(rank, HIGH_RANK)
        why.append(reason)

    if rank > HIGH_RANK:
        why.append(f"capped at HIGH ({rank - HIGH_RANK} level(s) above HIGH before the cap)")
    level = _name(min(rank, HIGH_RANK))
    why.append(f"risk class {level}")
    return RiskAssessment(level=level, rationale=why, fields=matched, concerns=concerns)


def _name(rank: int) -> Level:
    return LEVELS[min(rank, HIGH_RANK)]


def required_decision(level: Level, *, production: bool, policy: PromotionPolicy) -> DecisionRequirement:
    """What humans must do before a proposal of this class may be applied."""
    if level == "LOW":
        return DecisionRequirement("objection_window", level, 0, policy.low_objection_window, production=production)
    if level == "MEDIUM":
        return DecisionRequirement(
            "acknowledgment",
            level,
            1,
            policy.medium_ack_window,
            escalations=(policy.medium_escalate_after,),
            as_high_after=policy.medium_as_high_after,
            production=production,
        )
    needed = policy.production_high_approvals if production else policy.high_approvals
    return DecisionRequirement(
        "approval", level, needed, None, escalations=tuple(policy.high_escalations), production=production
    )
