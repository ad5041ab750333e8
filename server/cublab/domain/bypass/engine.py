"""The bypass decision engine: the seed's decision tree walked for one change.

`decide(facts, policy)` walks the seed's decision framework and answers whether a
change may bypass ConfigHub, under which of the eight criteria, and what it owes
afterwards. It reads no clock, no database and no network: the caller (the use
case) supplies every fact, so the same facts always give the same decision and
the whole policy can be tested as a table.

The principle. A verdict that lets a change skip the authority rests on evidence
cublab can check; a claim the caller makes can only make the answer stricter
(`decision.STRICTNESS`: bypass < bypass_then_reconcile < use_confighub). The
evidence is `facts.verified` (cublab's own probe of the authority, the space's
tier label, the incident as declared with `breakglass_declare`, the sandbox as
cublab holds it), the literal-secret paths found by cublab's secret gate, and
what the document itself shows. So:

- ConfigHub counts as unreachable only when cublab's probe says so; a caller's
  "unreachable" is noted (and overruled when the probe reached it), a caller's
  "reachable" against a failed probe wins, being the stricter.
- An incident counts only when declared and open; otherwise, when the change asks
  for break-glass, the answer says `must_declare_incident` and which tool to call.
- Production is never ephemeral: a production context, space name, namespace or
  verified space tier ignores every ttl and ephemeral label (ttl labels count as
  evidence of cleanup only outside production, per the seed's own example).
- An incident outranks a ttl: under an incident id a ttl is ignored, so a
  persistent change is break-glass (declared) or stays in ConfigHub (undeclared).
- Criterion 7 needs a cublab sandbox: spawned now (`is_sandbox_experiment`) or
  named by `sandbox_id` and verified live; never in production.
- Criteria 3 and 8 need the component itself (kind, API group, name, image,
  labels, document content); a namespace alone is not evidence.
- Criterion 6 reads the observed state the document shows, wherever it sits, and
  the controllers that own it; criterion 5 needs literal values (a reference is
  configuration, and belongs in ConfigHub).

Precedence (which criterion is *the* answer when several hold). The tree's
questions are asked in the seed's order: persist? -> secrets? -> available? ->
adds value?, and the first question that answers "bypass" names the criterion:

1. persist? No: 7 (a cublab sandbox experiment) > 1 (ephemeral: a ttl within the
   policy maximum outside production and without an incident, or a CI/preview
   context) > 6 (the document is observed state only: "this isn't configuration").
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
   ConfigHub) > 4 (a declared, open incident, or ConfigHub unreachable by cublab's
   own probe: bypass, then reconcile).
4. adds value? An explicit `adds_value=True` opts in (use ConfigHub even for
   observability or local work: "ongoing changes can optionally flow through
   ConfigHub"). Otherwise 2 (local) > 8 (observability) answer "No". A bare
   `adds_value=False` that no criterion backs is refused: use ConfigHub.

Net order of the primary criterion: 7 > 1 > 6 (whole document) > 2 > 3 > 4 > 8 > 5.
A production context never qualifies as ephemeral, local or a sandbox. A
`bypass-confighub: "true"` label with no criterion that holds is refused, never
waved through. Verdict rule: `bypass_then_reconcile` exactly when the primary
criterion's reconciliation is `required` (criterion 4); `bypass` with any other
criterion; `use_confighub` with none.
"""

from __future__ import annotations

from datetime import timedelta

from cublab.domain.bypass.decision import (
    Basis,
    BypassDecision,
    ChangeFacts,
    CriterionRef,
    FactSource,
    IncidentCheck,
    ReconciliationOwed,
    SandboxCheck,
    SecretHandling,
    Verdict,
    strictness,
)
from cublab.domain.bypass.policy import BypassPolicy
from cublab.domain.bypass.resource import (
    Resource,
    classify_context,
    expand,
    glob_match,
    observed_state_paths,
    only_observed,
    production_signs,
    secret_value_paths,
)
from cublab.domain.durations import format_duration, parse_duration
from cublab.domain.errors import InvalidInput


def _word(reachable: bool | None) -> str | None:
    return None if reachable is None else ("reachable" if reachable else "unreachable")


class _Finding:
    """Everything the document, the evidence and the claims say, before the tree is walked."""

    def __init__(self, facts: ChangeFacts, policy: BypassPolicy, *, take_claimed_reachable: bool = False) -> None:
        res = Resource(facts)
        ev = facts.verified
        self.res = res
        self.notes: list[str] = []
        self.sources: list[FactSource] = []
        labels = res.labels
        lab = policy.labels
        max_ttl = policy.ephemeral.max_ttl

        # ---- production: names (the caller's description) or the space's tier (verified) ----
        self.production_signs = production_signs(facts, policy)
        self.context_class = classify_context(facts, policy, self.production_signs)
        self.production = self.context_class == "production"
        prod_why = " and ".join(self.production_signs)
        tier_says = bool(ev.space_tier) and glob_match(ev.space_tier, policy.contexts.production)
        named = [s for s in self.production_signs if not s.startswith("the space's tier")]
        if tier_says and not named:
            self.notes.append(
                f"The space {facts.space or ''} has the tier {ev.space_tier} in the authority: production, whatever the "
                f"context {facts.context} or the names say."
            )
        self._source(
            "production",
            claimed=f"context {facts.context}" + (f", space {facts.space}" if facts.space else ""),
            verified=None if ev.space_tier is None else (f"tier {ev.space_tier}" if ev.space_tier else "no tier label"),
            used=f"production ({prod_why})" if self.production else f"not production ({self.context_class})",
            basis="verified" if (tier_says or (ev.space_tier is not None and not self.production)) else "claimed",
        )

        # ---- the incident: it counts once declared with breakglass_declare and open ----
        self.incident_id = facts.incident_id or None
        check: IncidentCheck | None = ev.incident if ev.incident and ev.incident.id == self.incident_id else None
        self.incident_state = check.state if check else None
        self.declared = self.incident_id is not None and self.incident_state == "open"
        if self.incident_id or ev.incident:
            self._source(
                "incident",
                claimed=self.incident_id,
                verified=self.incident_state,
                used="declared and open" if self.declared else "not counted",
                basis="verified" if check else "claimed",
            )

        # ---- is ConfigHub reachable? Only cublab's probe can say no ----
        # Where the caller's "reachable" and cublab's failed probe disagree, `decide` weighs both readings
        # (`take_claimed_reachable` is the caller's) and keeps the stricter verdict.
        claim, seen = facts.confighub_reachable, ev.confighub_reachable
        self.unreachable = seen is False and not take_claimed_reachable
        if claim is False and seen is None:
            self.notes.append(
                "The caller says ConfigHub is unreachable, but cublab did not probe it: a claim cannot open break-glass, "
                "so ConfigHub is treated as available."
            )
        elif claim is False and seen is True:
            self.notes.append(
                "The caller says ConfigHub is unreachable, but cublab's own probe reached it: the claim is overruled "
                "and the change goes the normal way."
            )
        self._source(
            "confighub_reachable",
            claimed=_word(claim),
            verified=_word(seen),
            used="unreachable" if self.unreachable else "reachable",
            basis="verified"
            if seen is not None and (seen is False) == self.unreachable
            else ("claimed" if claim is not None else "none"),
        )

        # ---- the ttl, from the field or the ttl label (a claim: it describes the change) ----
        self.ttl = facts.ttl
        self.ttl_source = "ttl"
        bad_ttl_label = False
        if self.ttl is None and labels.get(lab.ttl):
            try:
                self.ttl = parse_duration(labels[lab.ttl], f"labels.{lab.ttl}")
                self.ttl_source = f"label {lab.ttl}"
            except InvalidInput:
                bad_ttl_label = True
                self.notes.append(f"The label {lab.ttl} is not a duration, so it gives no lifetime.")
        self.ttl_over_max = self.ttl is not None and self.ttl > max_ttl
        self.ttl_ok = self.ttl is not None and not self.ttl_over_max
        self.bypass_label = labels.get(lab.bypass, "").lower() == "true"
        claims = [
            f"label {lab.ephemeral}=true" if labels.get(lab.ephemeral, "").lower() == "true" else "",
            "persist=false" if facts.persist is False else "",
            f"label {lab.bypass}=true" if self.bypass_label else "",
            f"kind {res.kind}" if glob_match(res.kind, policy.ephemeral.kinds) else "",
            f"a ttl ({self.ttl_source})" if self.ttl is not None else "",
        ]
        self.claims = [c for c in claims if c]
        short_lived = facts.persist is not True and not self.ttl_over_max
        # A ttl is evidence of cleanup only outside production and without an incident.
        self.ttl_counts = not self.production and self.incident_id is None
        cleaned_by_context = self.context_class in policy.ephemeral.contexts

        # ---- criterion 7: a cublab sandbox, spawned now or named by id and verified live ----
        self.sandbox_id = facts.sandbox_id or None
        sandbox: SandboxCheck | None = ev.sandbox if ev.sandbox and ev.sandbox.id == self.sandbox_id else None
        self.sandbox = sandbox
        live = sandbox is not None and sandbox.state == "active"
        self.sandbox_remaining = sandbox.remaining if sandbox is not None and live else None
        spawned = facts.is_sandbox_experiment and facts.ttl is not None and facts.ttl <= max_ttl
        by_ref = live and (self.sandbox_remaining is None or self.sandbox_remaining <= max_ttl)
        self.experiment_by_ref = by_ref and not spawned
        self.experiment = (spawned or by_ref) and not self.production and short_lived
        if facts.is_sandbox_experiment or self.sandbox_id:
            self._source(
                "sandbox",
                claimed=self.sandbox_id,
                verified=(
                    "spawned by cublab now"
                    if facts.is_sandbox_experiment
                    else (None if sandbox is None else sandbox.state)
                ),
                used="a live cublab sandbox" if self.experiment else "not a live cublab sandbox here",
                basis="verified" if (facts.is_sandbox_experiment or sandbox is not None) else "claimed",
            )

        # ---- criterion 1 ----
        self.ephemeral = short_lived and ((self.ttl_ok and self.ttl_counts) or cleaned_by_context)
        ttl_text = f"{span(self.ttl)} ({self.ttl_source})" if self.ttl is not None else ""
        if self.ttl is not None and self.ttl_over_max and self.claims:
            self.notes.append(
                f"It claims to be ephemeral ({', '.join(self.claims)}), but its ttl {ttl_text} is over the policy maximum of "
                f"{span(max_ttl)} (criterion 1: minutes to hours), so it is not ephemeral."
            )
        elif facts.persist is True and self.ttl is not None:
            self.notes.append(f"persist=true overrides the ttl {span(self.ttl)}: it is treated as persistent.")
        elif self.ttl_ok and not self.ttl_counts and not self.ephemeral and not self.experiment:
            if self.production:
                self.notes.append(
                    f"The ttl {ttl_text} was ignored: production is never ephemeral ({prod_why}). Whatever its labels or "
                    "ttl say, nothing cleans a production change up, so it persists and the authority governs it."
                )
            else:
                self.notes.append(
                    f"The ttl {ttl_text} was ignored: an incident outranks a ttl. A change made under incident "
                    f"{self.incident_id} is break-glass and owes its capture, however short-lived it says it is."
                )
        elif self.claims and not self.ephemeral and facts.persist is not True and not self.experiment:
            if self.production:
                self.notes.append(
                    f"It claims to be ephemeral ({', '.join(self.claims)}), but production is never ephemeral ({prod_why})."
                )
            else:
                self.notes.append(
                    f"It claims to be ephemeral ({', '.join(self.claims)}) but nothing cleans it up: give it a ttl of at most "
                    f"{span(max_ttl)}, or run it in a CI or preview context."
                )
        if self.ttl is not None or bad_ttl_label:
            if bad_ttl_label:
                used = "not a duration: no lifetime"
            elif self.ttl_over_max:
                used = f"over the {span(max_ttl)} maximum: not ephemeral"
            elif facts.persist is True:
                used = "overridden by persist=true"
            elif not self.ttl_counts:
                used = "ignored: " + (
                    "production is never ephemeral" if self.production else "an incident outranks a ttl"
                )
            else:
                used = f"counted: within the {span(max_ttl)} maximum"
            self._source(
                "ttl",
                claimed=ttl_text or f"label {lab.ttl} (not a duration)",
                verified=None,
                used=used,
                basis="claimed",
            )

        if facts.is_sandbox_experiment and not self.experiment:
            why = (
                "a production context never qualifies as a sandbox"
                if self.production
                else ("persist=true" if facts.persist is True else f"it needs a ttl of at most {span(max_ttl)}")
            )
            self.notes.append(f"It is marked as a sandbox experiment, but criterion 7 does not hold: {why}.")
        elif self.sandbox_id and not self.experiment:
            if sandbox is None:
                why = "cublab could not look it up"
            elif sandbox.state != "active":
                why = f"it is {sandbox.state}" if sandbox.state != "unknown" else "cublab holds no such sandbox"
            elif self.production:
                why = f"a production context never qualifies as a sandbox ({prod_why})"
            elif facts.persist is True:
                why = "persist=true"
            else:
                why = f"its ttl is over the {span(max_ttl)} maximum"
            self.notes.append(
                f"The change names the sandbox {self.sandbox_id}, but criterion 7 does not hold: {why}. Criterion 7 "
                "needs a live cublab sandbox (sandbox_spawn) outside production."
            )

        # ---- criterion 6: observed state, wherever it sits, and who owns it ----
        self.observed_paths, self.observed_owners = observed_state_paths(res, policy.observed_state, lab.managed_by)
        self.observed_kind = glob_match(res.kind, policy.observed_state.kinds)
        self.observed_whole = self.observed_kind or only_observed(res.doc, self.observed_paths)

        # ---- criterion 5: literal values only ----
        self.has_secrets, self.secret_paths, self.reference_paths = secret_value_paths(facts, res, policy.secrets)
        if self.reference_paths and not self.has_secrets:
            self.notes.append(
                f"The {res.kind} holds secret references only ({', '.join(self.reference_paths)}): a reference is "
                "ordinary configuration, and it is exactly what belongs in ConfigHub; only literal values bypass it."
            )
        if self.has_secrets or self.reference_paths:
            self._source(
                "secrets",
                claimed=None,
                verified=(
                    f"literal values at {len(self.secret_paths)} path(s)"
                    if self.secret_paths
                    else (f"a {res.kind}: its values are secret by definition" if self.has_secrets else "none")
                )
                + (f"; references at {len(self.reference_paths)} path(s)" if self.reference_paths else ""),
                used="criterion 5 for the literal values" if self.has_secrets else "references: ordinary configuration",
                basis="verified",
            )

        # ---- criterion 2: local, never production ----
        local_marker = (
            res.doc is not None
            and "apiVersion" not in res.doc
            and any(expand(res.doc, m) for m in policy.contexts.local_document_markers)
        )
        self.local = not self.production and (self.context_class == "local" or local_marker)
        # A local change skips question 3 (break-glass does not apply to a laptop) unless the caller opts in
        # to ConfigHub: an opted-in local change is governed configuration, asked every question like any other.
        self.local_shortcut = self.local and facts.adds_value is not True
        self.local_why = (
            f"context {facts.context} is local"
            if self.context_class == "local"
            else "the document is a Docker Compose file"
        )
        if self.production and ((facts.context and glob_match(facts.context, policy.contexts.local)) or local_marker):
            looks = (
                f"context {facts.context} looks local" if not local_marker else "the document looks like a Compose file"
            )
            self.notes.append(
                f"A production context never qualifies as local development: {looks}, but {prod_why} says production, "
                "and the stricter reading wins."
            )

        # ---- criteria 3 and 8: the component itself, not its namespace ----
        self.platform = res.matches(policy.platform)
        self.observability = res.matches(policy.observability)
        kinds = (
            (policy.platform, self.platform, "platform", "a", 3),
            (policy.observability, self.observability, "observability", "an", 8),
        )
        for m, matched, what, article, number in kinds:
            ns = res.only_namespace(m, matched)
            if ns and self.platform is None and self.observability is None:
                self.notes.append(
                    f"The namespace {ns} is where {what} components run, but a namespace alone is not evidence: "
                    f"nothing in the resource (its kind, API group, name, image, labels or document) names "
                    f"{article} {what} component, so criterion {number} does not hold."
                )

        # ---- criterion 4: a declared, open incident, or ConfigHub unreachable by cublab's probe ----
        self.persistent = not (self.experiment or self.ephemeral or self.observed_whole)
        asks = self.persistent and not self.local_shortcut and (self.incident_id is not None or self.unreachable)
        self.break_glass = asks and (self.declared or self.unreachable)
        self.must_declare = asks and not self.declared and self.platform is None

    def _source(self, fact: str, *, claimed: str | None, verified: str | None, used: str, basis: Basis) -> None:
        self.sources.append(
            FactSource.model_validate(
                {"fact": fact, "claimed": claimed, "verified": verified, "used": used, "basis": basis}
            )
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
    if change.confighub_reachable is True and change.verified.confighub_reachable is False:
        # The caller reaches ConfigHub, cublab's probe does not: two pieces of evidence disagree, so the
        # change is decided under both readings and the stricter verdict wins (on a tie, cublab's own).
        as_probed = _decide(change, policy, _Finding(change, policy))
        as_claimed = _decide(change, policy, _Finding(change, policy, take_claimed_reachable=True))
        chosen = as_claimed if strictness(as_claimed) > strictness(as_probed) else as_probed
        which = (
            "the caller's (ConfigHub is available: use it)"
            if chosen is as_claimed
            else "cublab's probe (ConfigHub is unreachable: break-glass)"
        )
        note = (
            "cublab's own probe could not reach ConfigHub, but the caller says it reaches it: the two disagree, so "
            f"the change was decided under both readings and the stricter verdict ({chosen.verdict}) wins, {which}."
        )
        return chosen.model_copy(update={"reasons": [*chosen.reasons[:1], note, *chosen.reasons[1:]]})
    return _decide(change, policy, _Finding(change, policy))


def _decide(change: ChangeFacts, policy: BypassPolicy, f: _Finding) -> BypassDecision:
    res = f.res
    path: list[str] = []
    reasons: list[str] = list(f.notes)
    primary: int | None = None
    max_ttl = span(policy.ephemeral.max_ttl)

    # 1. Is this configuration that should persist?
    if f.experiment:
        primary = 7
        if f.experiment_by_ref:
            left = (
                f" (verified live, it expires in {span(f.sandbox_remaining)})"
                if f.sandbox_remaining
                else " (verified live)"
            )
            why = f"the change is made in the cublab sandbox {f.sandbox_id}{left}"
        else:
            assert change.ttl is not None  # a spawned sandbox qualifies only with a ttl within the maximum
            why = f"a cublab sandbox experiment with ttl {span(change.ttl)} (within {max_ttl})"
        path.append(_step(policy, "persist", f"No: {why}"))
    elif f.ephemeral:
        primary = 1
        why = (
            f"ttl {span(f.ttl)} ({f.ttl_source}) within the {max_ttl} maximum"
            if f.ttl is not None and f.ttl_counts
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
        if change.persist is True:
            why = "persist=true"
        elif f.production and f.ttl is not None and not f.ttl_over_max:
            why = "production is never ephemeral: the ttl is ignored"
        elif f.incident_id is not None and f.ttl is not None and not f.ttl_over_max:
            why = "an incident outranks a ttl: the ttl is ignored"
        else:
            why = "nothing says it is short-lived or cleaned up"
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
        elif f.reference_paths:
            path.append(_step(policy, "secrets", "No (references only: they belong in ConfigHub)"))
        else:
            path.append(_step(policy, "secrets", "No"))
        # 3. Is ConfigHub available?
        if f.local_shortcut:
            path.append(_step(policy, "available", f"Not needed: {f.local_why} (personal; break-glass does not apply)"))
        elif f.platform is not None:
            primary = 3
            path.append(
                _step(policy, "available", f"No: ConfigHub depends on it (platform infrastructure: {f.platform})")
            )
        elif f.break_glass:
            primary = 4
            if f.declared:
                why = f"incident {f.incident_id}: the normal workflow is too slow"
                if f.unreachable:
                    why += ", and ConfigHub is unreachable"
            else:
                why = "ConfigHub is unreachable"
            path.append(_step(policy, "available", f"No ({why})"))
        elif f.must_declare:
            path.append(
                _step(
                    policy,
                    "available",
                    f"Yes (incident {f.incident_id} is not a declared, open incident, and ConfigHub is reachable)",
                )
            )
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
                must_declare_incident=f.must_declare,
                steps=([bg.declare] if f.must_declare else []) + [bg.capture, bg.review],
            )
            reasons.append(
                f"Capture the live state into ConfigHub (tag {bg.tag}) within {span(bg.capture_within)}, "
                f"and review it within {span(bg.review_within)}: persist it as a proposal or revert it."
            )
        else:
            reconciliation = ReconciliationOwed(kind=rule.kind, text=rule.text, steps=list(rule.steps))
        if criterion.number == 7 and f.experiment_by_ref:
            reasons.append(
                f"The sandbox {f.sandbox_id} is live (verified by cublab): experiment freely in it; the winning variant "
                "becomes a proposal via variant_promote, and nothing from the sandbox reaches ConfigHub any other way."
            )
    if f.must_declare:
        if f.incident_id is None:
            lead = "No declared, open incident backs this break-glass, so nobody owes the capture yet"
        elif f.incident_state == "closed":
            lead = f"The incident {f.incident_id} is closed (every obligation met): a new emergency needs a new declaration"
        elif f.incident_state == "undeclared":
            lead = (
                f"The incident {f.incident_id} was never declared, so it creates no obligation and opens no break-glass"
            )
        else:
            lead = f"cublab could not look up the incident {f.incident_id}, so it counts as undeclared"
        reasons.append(f"{lead}: declare the incident first. {bg.declare}")
    numbers = {a.number for a in also}
    if criterion is not None and criterion.number == 3 and 4 in numbers:
        reasons.append(
            "This is a break-glass change to platform infrastructure: ConfigHub cannot hold its own prerequisites, so record the "
            "emergency change in the bootstrap runbook's change log and review it after the incident instead of capturing it into ConfigHub."
        )
    if criterion is not None and criterion.number == 2 and (f.incident_id or f.unreachable):
        reasons.append(
            "Break-glass does not apply to a local context: local resources are personal, so there is nothing to capture."
        )
    if criterion is not None and criterion.number in (1, 7) and f.incident_id:
        cleaned = (
            "the sandbox is destroyed by cublab"
            if criterion.number == 7
            else f"the {f.context_class} context cleans it up"
        )
        reasons.append(
            f"The incident {f.incident_id} needs no capture for this change: it does not persist ({cleaned})."
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
    if f.observed_owners:
        reasons.append("Observed state owned at run time by " + "; ".join(f.observed_owners) + ".")
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
        must_declare_incident=f.must_declare,
        facts=f.sources,
    )
