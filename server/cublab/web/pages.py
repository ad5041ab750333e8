"""The console's pages: each a stable URL a reviewer can paste into chat, each read through the use cases."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cublab.app.inputs import (
    CompareExperiment,
    ExperimentRef,
    ListExperiments,
    ListObligations,
    ListProposals,
    SandboxRef,
)
from cublab.app.outputs import ProposalView
from cublab.domain.errors import CublabError, InvalidInput
from cublab.domain.proposals import OPEN_STATES
from cublab.web.auth import Reader
from cublab.web.charts import means_chart
from cublab.web.diffs import side_by_side, unified_lines
from cublab.web.inbox import timers, waiting_order

if TYPE_CHECKING:
    from cublab.web.app import Console

INBOX_LIMIT = 200  # open proposals read for the inbox; more than this is a backlog the page says it cut


def routes(console: Console) -> list[Route]:
    pages = Pages(console)
    return [
        Route("/", console.page(pages.inbox), name="inbox"),
        Route("/experiments", console.page(pages.experiments), name="experiments"),
        Route("/experiments/{experiment_id}", console.page(pages.experiment), name="experiment"),
        Route("/proposals", console.page(pages.proposals), name="proposals"),
        Route("/proposals/{proposal_id}", console.page(pages.proposal), name="proposal"),
        Route("/decisions", console.page(pages.decisions), name="decisions"),
        Route("/policy", console.page(pages.policy), name="policy"),
        Route("/audit", console.page(pages.audit), name="audit"),
    ]


def _text(request: Request, name: str, limit: int = 200) -> str | None:
    value = request.query_params.get(name, "").strip()
    if len(value) > limit:
        raise InvalidInput(f"{name}: at most {limit} characters")
    return value or None


def _int(request: Request, name: str) -> int | None:
    value = _text(request, name, 20)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidInput(f"{name}: {value!r} is not a whole number") from None


class Pages:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.rt = console.runtime

    def _open_proposals(self) -> tuple[list[ProposalView], bool]:
        """Proposals still waiting on a human (pending or approved), up to INBOX_LIMIT; and whether more exist."""
        found: list[ProposalView] = []
        more = False
        for state in OPEN_STATES:
            cursor = None
            while True:
                page = self.rt.proposals.list(ListProposals(state=state, limit=200, cursor=cursor))
                found.extend(page.proposals)
                cursor = page.next_cursor
                if cursor is None:
                    break
                if len(found) >= INBOX_LIMIT:
                    more = True
                    break
        return found[:INBOX_LIMIT], more or len(found) > INBOX_LIMIT

    # ---- inbox ----------------------------------------------------------------------------------

    def inbox(self, request: Request, reader: Reader) -> Response:
        views, cut = self._open_proposals()
        return self.console.render(
            request,
            reader,
            "inbox.html",
            waiting=waiting_order(views),
            cut=cut,
            sandboxes=self.rt.sandboxes.counts(),
            experiments=self.rt.experiments.list(ListExperiments(limit=10, cursor=None)).experiments,
            now=self.rt.ctx.clock(),
        )

    # ---- experiments ----------------------------------------------------------------------------

    def experiments(self, request: Request, reader: Reader) -> Response:
        cmd = ListExperiments(sandbox_id=_text(request, "sandbox", 64), cursor=_text(request, "cursor", 64), limit=50)
        page = self.rt.experiments.list(cmd)
        filters = {"sandbox": cmd.sandbox_id or ""}
        return self.console.render(
            request,
            reader,
            "experiments.html",
            rows=page.experiments,
            filters=filters,
            choices={},
            next_cursor=page.next_cursor,
            next_query=urlencode({**filters, "cursor": page.next_cursor or ""}),
        )

    def experiment(self, request: Request, reader: Reader) -> Response:
        experiment_id = request.path_params["experiment_id"]
        log = self.rt.experiments.get(ExperimentRef(experiment_id=experiment_id))
        sandbox = self.rt.sandboxes.get(SandboxRef(sandbox_id=log.experiment.sandbox_id))
        metrics = sorted({m.metric for m in log.measurements} | {log.experiment.objective_metric})
        metrics.remove(log.experiment.objective_metric)
        comparisons: list[dict[str, Any]] = []
        for metric in [log.experiment.objective_metric, *metrics]:
            try:
                comparison = self.rt.experiments.compare(CompareExperiment(experiment_id=experiment_id, metric=metric))
            except CublabError as exc:  # values too large to compare: say so where the chart would be
                comparisons.append({"metric": metric, "error": str(exc)})
                continue
            comparisons.append(
                {"metric": metric, "comparison": comparison, "means": means_chart(comparison), "spread": None}
            )
        variants = {v.id: v for v in log.variants}
        a, b = _text(request, "a", 64), _text(request, "b", 64)
        if len(log.variants) >= 2:
            a = a if a in variants else log.variants[0].id
            b = b if b in variants else log.variants[1].id
        diff = (
            side_by_side(variants[a].config, variants[b].config, variants[a].name, variants[b].name)
            if a in variants and b in variants
            else None
        )
        proposals = self.rt.proposals.list(ListProposals(experiment_id=experiment_id, limit=50, cursor=None)).proposals
        return self.console.render(
            request,
            reader,
            "experiment.html",
            log=log,
            sandbox=sandbox,
            comparisons=comparisons,
            diff=diff,
            a=a,
            b=b,
            proposals=proposals,
            batches=None,
        )

    # ---- proposals ------------------------------------------------------------------------------

    def proposals(self, request: Request, reader: Reader) -> Response:
        cmd = ListProposals(
            state=_text(request, "state", 20),
            experiment_id=_text(request, "experiment", 64),
            cursor=_text(request, "cursor", 64),
            limit=50,
        )
        page = self.rt.proposals.list(cmd)
        return self.console.render(
            request,
            reader,
            "proposals.html",
            page=page,
            filters={"state": cmd.state or "", "experiment": cmd.experiment_id or ""},
        )

    def proposal(self, request: Request, reader: Reader) -> Response:
        proposal_id = request.path_params["proposal_id"]
        document = self.rt.proposals.document(proposal_id)
        remote = self.rt.proposals.remote_review(proposal_id)
        view = document.proposal
        head, competing = self._target_now(view)
        from cublab.app.review import CLI_VERB

        return self.console.render(
            request,
            reader,
            "proposal.html",
            p=view,
            diff=unified_lines(document.diff),
            remote=remote,
            head=head,
            competing=competing,
            timers=timers(view),
            now=self.rt.ctx.clock(),
            open=view.state in OPEN_STATES,
            cli_verb=CLI_VERB,
            message=request.query_params.get("done", "")[:300],
        )

    def _target_now(self, view: ProposalView) -> tuple[int | None, list[ProposalView]]:
        """The target unit's head revision now (None: no such unit yet) and the other open proposals on it."""
        head: int | None
        try:
            unit, _ = self.rt.review.unit_with_revisions(view.target.space, view.target.unit)
            head = unit.head_revision_num
        except CublabError:
            head = None
        views, _ = self._open_proposals()
        competing = [
            v
            for v in views
            if v.id != view.id and (v.target.space, v.target.unit) == (view.target.space, view.target.unit)
        ]
        return head, competing

    # ---- decisions and obligations --------------------------------------------------------------

    def decisions(self, request: Request, reader: Reader) -> Response:
        verdict, criterion, actor = _text(request, "verdict", 40), _int(request, "criterion"), _text(request, "actor")
        rows = self.rt.bypass.decisions(verdict=verdict, criterion=criterion, actor=actor, limit=200)
        obligations = self.rt.breakglass.obligations(ListObligations(status="all", limit=200))
        order = {"overdue": 0, "open": 1, "met": 2}
        ordered = sorted(obligations.obligations, key=lambda o: (order.get(str(o.status), 3), o.due_at))
        incidents: dict[str, list[Any]] = {}
        for ob in ordered:
            incidents.setdefault(ob.incident_id, []).append(ob)
        return self.console.render(
            request,
            reader,
            "decisions.html",
            rows=rows,
            filters={"verdict": verdict or "", "criterion": criterion or "", "actor": actor or ""},
            obligations=obligations,
            incidents=incidents,
            now=self.rt.ctx.clock(),
        )

    # ---- policy ---------------------------------------------------------------------------------

    def policy(self, request: Request, reader: Reader) -> Response:
        loaded = self.rt.policy
        return self.console.render(
            request,
            reader,
            "policy.html",
            source=loaded.source,
            digest=loaded.digest,
            policy=loaded.policy.model_dump(mode="json"),
        )

    # ---- audit ----------------------------------------------------------------------------------

    def audit(self, request: Request, reader: Reader) -> Response:
        check = self.rt.audit.verify()
        return self.console.render(request, reader, "audit.html", check=check, events=None, filters={})


def iso(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else "-"
