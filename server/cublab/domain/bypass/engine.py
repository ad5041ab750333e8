"""The bypass decision engine: the seed's decision tree walked for one change.

`decide(facts, policy)` walks the seed's decision framework and answers whether a
change may bypass ConfigHub, under which of the eight criteria, and what it owes
afterwards. It reads no clock, no database and no network: the caller (the use
case) supplies every fact, including the literal-secret paths found by the secret
gate and whether ConfigHub is reachable, so the same facts always give the same
decision and the whole policy can be tested as a table.

Precedence (which criterion is *the* answer when several hold). The tree's
questions are asked in the seed's order: persist? -> secrets? -> available? ->
adds value?, and the first question that answers "bypass" names the criterion:

1. persist? No: 7 (a cublab sandbox experiment) > 1 (ephemeral: a ttl within the
   policy maximum, or a CI/preview context) > 6 (the document is observed state
   only: "this isn't configuration").
2. secrets? Criteria 5 and 6 are *part-of-document* criteria: they settle where
   a part goes (a secret's value to a secrets manager, observed state nowhere) and
   the rest of the document continues down the tree. So secrets are primary only
   when the rest would go to ConfigHub (the tree's own "Yes -> Bypass (use secrets
   manager)": references in, values out). Otherwise the rest's criterion is primary
   and 5 is listed in `also_matched`; the `secrets` part of the answer is present
   in every verdict, and no verdict ever puts a secret's value in ConfigHub. This
   is what keeps a break-glass change carrying a secret under its 1 h capture.
3. available? A local context never needs ConfigHub (break-glass does not apply to
   a laptop), so it goes straight to question 4. Otherwise: 3 (platform
   infrastructure: ConfigHub can't manage its own prerequisites, so a break-glass
   change to it is recorded in the bootstrap runbook, not captured into
   ConfigHub) > 4 (an incident, or ConfigHub unreachable: bypass, then reconcile).
4. adds value? An explicit `adds_value=True` opts in (use ConfigHub even for
   observability or local work: "ongoing changes can optionally flow through
   ConfigHub"). Otherwise 2 (local) > 8 (observability) answer "No". A bare
   `adds_value=False` that no criterion backs is refused: use ConfigHub.

Net order of the primary criterion: 7 > 1 > 6 (whole document) > 2 > 3 > 4 > 8 > 5.
A production context never qualifies as local or as a sandbox. A `bypass-confighub:
"true"` label with no criterion that holds is refused, never waved through.
Verdict rule: `bypass_then_reconcile` exactly when the primary criterion's
reconciliation is `required` (criterion 4); `bypass` with any other criterion;
`use_confighub` with none.
"""

from __future__ import annotations

from datetime import timedelta

from cublab.domain.bypass.decision import (
    BypassDecision,
    ChangeFacts,
    CriterionRef,
    ReconciliationOwed,
    SecretHandling,
    Verdict,
)
from cublab.domain.bypass.policy import BypassPolicy
from cublab.domain.bypass.resource import (
    Resource,
    classify_context,
    expand,
    glob_match,
    observed_state_paths,
    secret_value_paths,
)
from cublab.domain.durations import format_duration, parse_duration
from cublab.domain.errors import InvalidInput
from cublab.domain.pointers import pointer


class _Finding:
    """Everything the document and the facts say, before the tree is walked."""

    def __init__(self, facts: ChangeFacts, policy: BypassPolicy) -> None:
        res = Resource(facts)
        self.res = res
        self.notes: list[str] = []
        self.context_class = classify_context(facts, policy)
        self.production = self.context_class == "production"
        labels = res.labels
        lab = policy.labels
        max_ttl = policy.ephemeral.max_ttl

        self.ttl = facts.ttl
        self.ttl_source = "ttl"
        if self.ttl is None and labels.get(lab.ttl):
            try:
                self.ttl = parse_duration(labels[lab.ttl], f"labels.{lab.ttl}")
                self.ttl_source = f"label {lab.ttl}"
            except InvalidInput:
                self.notes.append(
                    f"The label {lab.ttl}={labels[lab.ttl]!r} is not a duration, so it gives no lifetime."
                )
        self.ttl_over_max = self.ttl is not None and self.ttl > max_ttl
        self.bypass_label = labels.get(lab.bypass, "").lower() == "true"
        claims = [
            f"label {lab.ephemeral}=true" if labels.get(lab.ephemeral, "").lower() == "true" else "",
            "persist=false" if facts.persist is False else "",
            f"label {lab.bypass}=true" if self.bypass_label else "",
            f"kind {res.kind}" if glob_match(res.kind, policy.ephemeral.kinds) else "",
            f"a ttl ({self.ttl_source})" if self.ttl is not None else "",
        ]
        self.claims = [c for c in claims if c]
        cleaned_by_context = self.context_class in policy.ephemeral.contexts
        self.ttl_ok = self.ttl is not None and not self.ttl_over_max
        short_lived = facts.persist is not True and not self.ttl_over_max
        self.experiment = facts.is_sandbox_experiment and not self.production and short_lived and self.ttl_ok
        self.ephemeral = short_lived and (self.ttl_ok or cleaned_by_context)
        if self.ttl is not None and self.ttl_over_max and self.claims:
            self.notes.append(
                f"It claims to be ephemeral ({', '.join(self.claims)}), but its ttl {span(self.ttl)} is over the policy maximum of "
                f"{span(max_ttl)} (criterion 1: minutes to hours), so it is not ephemeral."
            )
        elif facts.persist is True and self.ttl is not None:
            self.notes.append(f"persist=true overrides the ttl {span(self.ttl)}: it is treated as persistent.")
        elif self.claims and not self.ephemeral and facts.persist is not True:
            self.notes.append(
                f"It claims to be ephemeral ({', '.join(self.claims)}) but nothing cleans it up: give it a ttl of at most "
                f"{span(max_ttl)}, or run it in a CI or preview context."
            )
        if facts.is_sandbox_experiment and not self.experiment:
            why = (
                "a production context never qualifies as a sandbox"
                if self.production
                else ("persist=true" if facts.persist is True else f"it needs a ttl of at most {span(max_ttl)}")
            )
            self.notes.append(f"It is marked as a sandbox experiment, but criterion 7 does not hold: {why}.")

        self.observed_paths = observed_state_paths(res, policy.observed_state)
        self.observed_kind = glob_match(res.kind, policy.observed_state.kinds)
        content = [k for k in (res.doc or {}) if k not in ("apiVersion", "kind", "metadata")]
        self.observed_whole = self.observed_kind or (
            bool(content) and all(pointer([k]) in self.observed_paths for k in content)
        )

        self.has_secrets, self.secret_paths = secret_value_paths(facts, res, policy.secrets)

        local_marker = (
            res.doc is not None
            and "apiVersion" not in res.doc
            and any(expand(res.doc, m) for m in policy.contexts.local_document_markers)
        )
        self.local = not self.production and (self.context_class == "local" or local_marker)
        self.local_why = (
            f"context {facts.context} is local"
            if self.context_class == "local"
            else "the document is a Docker Compose file"
        )
        if self.production and ((facts.context and glob_match(facts.context, policy.contexts.local)) or local_marker):
            self.notes.append("A production context never qualifies as local development.")
        self.platform = res.matches(policy.platform)
        self.observability = res.matches(policy.observability)
        self.persistent = not (self.experiment or self.ephemeral or self.observed_whole)
        self.break_glass = (
            self.persistent and not self.local and (bool(facts.incident_id) or not facts.confighub_reachable)
        )

    def matched(self) -> set[int]:
        flags = {
            1: self.ephemeral,
            2: self.local,
            3: self.platform is not None,
            4: self.break_glass,
            5: self.has_secrets,
            6: bool(self.observed_paths) or self.observed_kind,
            7: self.experiment,
            8: self.observability is not None,
        }
        return {n for n, on in flags.items() if on}


def span(delta: timedelta) -> str:
    """Deadlines and limits in whole hours when they are ('24h', '72h'), as the seed writes them."""
    seconds = int(delta.total_seconds())
    return f"{seconds // 3600}h" if seconds % 3600 == 0 else format_duration(delta)


def _ref(policy: BypassPolicy, number: int) -> CriterionRef:
    c = policy.criterion(number)
    return CriterionRef(number=c.number, key=c.key, name=c.name)


def _step(policy: BypassPolicy, key: str, answer: str) -> str:
    return f"{policy.node(key).question} {answer}"


def decide(change: ChangeFacts, policy: BypassPolicy) -> BypassDecision:
    """The seed's decision framework, walked for one change. Pure: same facts, same decision."""
    f = _Finding(change, policy)
    res = f.res
    path: list[str] = []
    reasons: list[str] = list(f.notes)
    primary: int | None = None
    max_ttl = span(policy.ephemeral.max_ttl)

    # 1. Is this configuration that should persist?
    if f.experiment:
        assert f.ttl is not None  # criterion 7 holds only with a ttl within the maximum
        primary = 7
        path.append(
            _step(policy, "persist", f"No: a cublab sandbox experiment with ttl {span(f.ttl)} (within {max_ttl})")
        )
    elif f.ephemeral:
        primary = 1
        why = (
            f"ttl {span(f.ttl)} ({f.ttl_source}) within the {max_ttl} maximum"
            if f.ttl is not None
            else f"a {f.context_class} context cleans it up"
        )
        path.append(_step(policy, "persist", f"No: ephemeral, {why}"))
    elif f.observed_whole:
        primary = 6
        what = (
            f"kind {res.kind} is observed state"
            if f.observed_kind
            else "the document holds only observed state (" + ", ".join(f.observed_paths) + ")"
        )
        path.append(_step(policy, "persist", f"No: {what}, not configuration"))
    else:
        why = "persist=true" if change.persist is True else "nothing says it is short-lived or cleaned up"
        path.append(_step(policy, "persist", f"Yes ({why})"))
    if primary is not None:
        path.append(f"-> {policy.node('persist').if_no}")
    else:
        # 2. Does it contain secrets?
        if f.has_secrets:
            where = ", ".join(f.secret_paths) if f.secret_paths else f"the values of a {res.kind}"
            path.append(
                _step(
                    policy, "secrets", f"Yes ({where}): the values bypass ConfigHub; the rest of the document continues"
                )
            )
        else:
            path.append(_step(policy, "secrets", "No"))
        # 3. Is ConfigHub available?
        if f.local:
            path.append(_step(policy, "available", f"Not needed: {f.local_why} (personal; break-glass does not apply)"))
        elif f.platform is not None:
            primary = 3
            path.append(
                _step(policy, "available", f"No: ConfigHub depends on it (platform infrastructure: {f.platform})")
            )
        elif f.break_glass:
            primary = 4
            why = (
                f"incident {change.incident_id}: the normal workflow is too slow"
                if change.incident_id
                else "ConfigHub is unreachable"
            )
            if change.incident_id and not change.confighub_reachable:
                why += ", and ConfigHub is unreachable"
            path.append(_step(policy, "available", f"No ({why})"))
        else:
            path.append(_step(policy, "available", "Yes"))
        if primary is not None:
            path.append(f"-> {policy.node('available').if_no}")
        else:
            # 4. Would ConfigHub add value?
            if change.adds_value is True:
                opted = [n for n, on in ((2, f.local), (8, f.observability is not None)) if on]
                note = f" (the caller opts in although criterion {opted[0]} would allow a bypass)" if opted else ""
                path.append(_step(policy, "adds_value", f"Yes{note}"))
            elif f.local:
                primary = 2
                path.append(_step(policy, "adds_value", f"No: local development ({f.local_why})"))
            elif f.observability is not None:
                primary = 8
                path.append(_step(policy, "adds_value", f"No: cross-cutting observability ({f.observability})"))
            elif change.adds_value is False:
                path.append(
                    _step(policy, "adds_value", "Yes: 'no value' was claimed, but no criterion backs the claim")
                )
                reasons.append(
                    "adds_value=false alone is not a bypass criterion: name the change's kind, context or lifetime so one of the eight criteria can hold."
                )
            else:
                path.append(_step(policy, "adds_value", "Yes"))
            if primary is not None:
                path.append(f"-> {policy.node('adds_value').if_no}")
            elif f.has_secrets:
                primary = 5
                path.append(f"-> {policy.node('secrets').if_yes}: references in ConfigHub, values in a secrets manager")
            else:
                path.append(f"-> {policy.node('adds_value').if_yes}")

    matched = f.matched()
    if primary is not None:
        matched.add(primary)
    also = [_ref(policy, n) for n in sorted(matched - {primary})]
    return _answer(change, policy, f, primary, also, path, reasons)


def _answer(
    change: ChangeFacts,
    policy: BypassPolicy,
    f: _Finding,
    primary: int | None,
    also: list[CriterionRef],
    path: list[str],
    reasons: list[str],
) -> BypassDecision:
    criterion = policy.criterion(primary) if primary is not None else None
    bg = policy.breakglass
    reconciliation = None
    refused = None
    if criterion is None:
        verdict: Verdict = "use_confighub"
        reasons.insert(
            0, "No bypass criterion holds: the change goes through ConfigHub (authority, history, policy enforcement)."
        )
        if f.bypass_label:
            refused = f'The label {policy.labels.bypass}="true" was refused: no bypass criterion holds for this change, so it goes through ConfigHub.'
            reasons.append(refused)
    else:
        rule = criterion.reconciliation
        verdict = "bypass_then_reconcile" if rule.kind == "required" else "bypass"
        reasons.insert(0, f"Criterion {criterion.number} ({criterion.name}): {criterion.description} {criterion.why}")
        if rule.kind == "required":
            reconciliation = ReconciliationOwed(
                kind=rule.kind,
                text=rule.text,
                capture_within=bg.capture_within,
                review_within=bg.review_within,
                must_declare_incident=not change.incident_id,
                steps=[bg.capture, bg.review],
            )
            reasons.append(
                f"Capture the live state into ConfigHub (tag {bg.tag}) within {span(bg.capture_within)}, "
                f"and review it within {span(bg.review_within)}: persist it as a proposal or revert it."
            )
            if not change.incident_id:
                reasons.append(
                    "No incident id was given: declare the incident first, so the capture obligation has an owner and deadlines."
                )
        else:
            reconciliation = ReconciliationOwed(kind=rule.kind, text=rule.text)
    numbers = {a.number for a in also}
    if criterion is not None and criterion.number == 3 and 4 in numbers:
        reasons.append(
            "This is a break-glass change to platform infrastructure: ConfigHub cannot hold its own prerequisites, so record the "
            "emergency change in the bootstrap runbook's change log and review it after the incident instead of capturing it into ConfigHub."
        )
    if criterion is not None and criterion.number == 2 and (change.incident_id or not change.confighub_reachable):
        reasons.append(
            "Break-glass does not apply to a local context: local resources are personal, so there is nothing to capture."
        )
    if criterion is not None and criterion.number in (1, 7) and change.incident_id:
        reasons.append(
            f"The incident {change.incident_id} needs no capture for this change: the resource does not persist."
        )
    if 4 in numbers and criterion is not None and criterion.number != 3:
        reasons.append(f"Criterion 4 also holds, but criterion {criterion.number} comes first in the decision tree.")
    for number, label in ((2, "a local context"), (8, "observability")):
        if number in numbers and criterion is None and change.adds_value is True:
            reasons.append(
                f"Criterion {number} ({label}) would allow a bypass; the caller chose ConfigHub (optional reconciliation means ongoing changes may flow through it)."
            )

    secrets = None
    if f.has_secrets:
        ref_in = (
            "ConfigHub, as a reference at each path"
            if (criterion is None or criterion.number not in (2, 3))
            else (
                "the bootstrap configuration, as a reference (ConfigHub does not manage platform infrastructure)"
                if criterion.number == 3
                else "the local configuration, as a reference"
            )
        )
        secrets = SecretHandling(
            paths=f.secret_paths,
            reference_in=f"{ref_in} ({', '.join(policy.secrets.reference_examples)})",
            value_in=f"a secrets manager ({', '.join(policy.secrets.managers)})",
            references=list(policy.secrets.reference_examples),
            managers=list(policy.secrets.managers),
        )
        where = ", ".join(f.secret_paths) if f.secret_paths else "its values"
        reasons.append(
            f"Criterion 5: the literal secret values at {where} never go in ConfigHub: put a reference there "
            f"({', '.join(policy.secrets.reference_examples)}) and keep the value in a secrets manager ({', '.join(policy.secrets.managers)})."
        )
        if criterion is not None and criterion.number == 4:
            reasons.append("The break-glass capture carries the references, never the values.")
        if criterion is not None and criterion.number in (1, 7):
            reasons.append(
                "Even in an ephemeral environment the secret value stays out of ConfigHub and out of any proposal made from it."
            )
    if f.observed_paths and not (criterion is not None and criterion.number == 6):
        reasons.append(
            "Criterion 6 applies to the observed part only ("
            + ", ".join(f.observed_paths)
            + "): leave it out of what is stored; "
            "desired state belongs in ConfigHub, observed state does not."
        )
    cited = {criterion.number} if criterion is not None else set()
    if f.has_secrets:
        cited.add(5)
    for entry in policy.not_for:
        if cited & set(entry.criteria):
            reasons.append(f"{entry.title}: {entry.statement}")
    return BypassDecision(
        verdict=verdict,
        criterion=_ref(policy, criterion.number) if criterion else None,
        also_matched=also,
        path=path,
        reasons=reasons,
        reconciliation=reconciliation,
        audit_requirement=criterion.audit.requirement if criterion else None,
        secrets=secrets,
        refused_label=refused,
        observed_paths=f.observed_paths,
        context_class=f.context_class,
    )
