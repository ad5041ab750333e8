"""The console's pages: each a stable URL a reviewer can paste into chat, each read through the use cases."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cublab.app.export import export_csv, export_json
from cublab.app.inputs import (
    ListObligations,
    ListProposals,
)
from cublab.app.outputs import Comparison, ProposalView, VariantView
from cublab.app.read_models import EXPERIMENT_STATES, AuditQuery, ExperimentFilter
from cublab.domain.diff import as_yaml
from cublab.domain.errors import CublabError, InvalidInput
from cublab.domain.proposals import OPEN_STATES
from cublab.web.auth import Reader
from cublab.web.charts import means_chart, spread_chart
from cublab.web.diffs import side_by_side, unified_lines
from cublab.web.inbox import timers, waiting_order
from cublab.web.memo import Memo

if TYPE_CHECKING:
    from cublab.web.app import Console

INBOX_LIMIT = 200  # open proposals read for the inbox; more than this is a backlog the page says it cut
SAMPLE_LIMIT = 200  # measurements per variant the spread chart draws: the page never ships more
BATCHES_SHOWN = 50
DONE = ("approve", "acknowledge", "reject", "apply")  # ?done= after a decision: which one, never free text


def routes(console: Console) -> list[Route]:
    pages = console.pages = Pages(console)
    return [
        Route("/", console.page(pages.inbox), name="inbox"),
        Route("/experiments", console.page(pages.experiments), name="experiments"),
        Route("/experiments/{experiment_id}", console.page(pages.experiment), name="experiment"),
        Route("/experiments/{experiment_id}/export.{fmt}", console.page(pages.export), name="export"),
        Route("/units/{space}/{unit}", console.page(pages.unit), name="unit"),
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


@dataclass(frozen=True)
class Drawn:
    means: Markup | None
    spread: Markup | None
    sampled: bool  # the spread is drawn from a sample, not every measurement


class Pages:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.rt = console.runtime
        self.drawn: Memo[tuple[Any, ...], Drawn] = Memo(64)
        self.yaml: Memo[str, str] = Memo(4096)  # a variant's configuration as YAML, by its content hash

    def _yaml(self, variants: list[VariantView]) -> dict[str, str]:
        """Each variant's configuration as YAML; a configuration never changes, so it is dumped once."""
        shown = {}
        for v in variants:
            text = self.yaml.get(v.content_hash)
            if text is None:
                text = as_yaml(v.config)
                self.yaml.put(v.content_hash, text)
            shown[v.id] = text
        return shown

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
            experiments=self.rt.experiment_reads.search(ExperimentFilter(limit=10)).experiments,
            now=self.rt.ctx.clock(),
        )

    # ---- experiments ----------------------------------------------------------------------------

    def experiments(self, request: Request, reader: Reader) -> Response:
        filters = {name: _text(request, name) or "" for name in ("sandbox", "agent", "space", "unit", "state")}
        query = ExperimentFilter(
            sandbox_id=filters["sandbox"] or None,
            agent=filters["agent"] or None,
            space=filters["space"] or None,
            unit=filters["unit"] or None,
            state=filters["state"] or None,
            offset=_int(request, "offset") or 0,
            limit=50,
        )
        listing = self.rt.experiment_reads.search(query)
        following = listing.next_offset
        return self.console.render(
            request,
            reader,
            "experiments.html",
            rows=listing.experiments,
            total=listing.total,
            offset=listing.offset,
            filters=filters,
            states=EXPERIMENT_STATES,
            next_query=urlencode({**filters, "offset": following}) if following is not None else None,
        )

    def experiment(self, request: Request, reader: Reader) -> Response:
        experiment_id = request.path_params["experiment_id"]
        detail = self.rt.experiment_reads.detail(
            experiment_id, _text(request, "metric"), batch_limit=BATCHES_SHOWN, sample_limit=0
        )
        drawn = self._charts(detail.comparison) if detail.comparison else None
        variants = {v.id: v for v in detail.variants}
        a, b = _text(request, "a", 64), _text(request, "b", 64)
        if len(detail.variants) >= 2:
            a = a if a in variants else detail.variants[0].id
            b = b if b in variants else detail.variants[1].id
        diff = (
            side_by_side(variants[a].config, variants[b].config, variants[a].name, variants[b].name)
            if a in variants and b in variants
            else None
        )
        return self.console.render(
            request,
            reader,
            "experiment.html",
            d=detail,
            configs=self._yaml(detail.variants),
            means=drawn.means if drawn else None,
            spread=drawn.spread if drawn else None,
            sampled=drawn.sampled if drawn else False,
            sample_limit=SAMPLE_LIMIT,
            diff=diff,
            a=a,
            b=b,
        )

    def _charts(self, comparison: Comparison) -> Drawn:
        """The comparison's two charts, drawn once per state of the data.

        Measurements are only ever appended (result_log), so a variant's count of the metric names its rows:
        the same counts mean the same sample and the same statistics, hence the same SVG. A new batch changes
        a count and so the key. Drawing costs the bounded sample's probes and pygal's rendering; a reload
        of an unchanged experiment costs neither.
        """
        key = (
            comparison.experiment_id,
            comparison.metric,
            comparison.confidence_level,
            SAMPLE_LIMIT,
            tuple((v.variant_id, v.name, v.n) for v in comparison.variants),
        )
        found = self.drawn.get(key)
        if found is None:
            sample = self.rt.experiment_reads.sample_of(comparison, SAMPLE_LIMIT)
            found = Drawn(
                means=means_chart(comparison),
                spread=spread_chart(sample.metric, {s.name: s.values for s in sample.variants}),
                sampled=not all(s.exact for s in sample.variants),
            )
            self.drawn.put(key, found)
        return found

    def export(self, request: Request, reader: Reader) -> Response:
        """The experiment's variants and per-variant statistics as a CSV or JSON download."""
        experiment_id, fmt = request.path_params["experiment_id"], request.path_params["fmt"]
        if fmt not in ("csv", "json"):
            raise InvalidInput(f"format: {fmt!r} is neither csv nor json")
        export = self.rt.experiment_reads.export(experiment_id)
        body = export_csv(export) if fmt == "csv" else export_json(export)
        response = Response(
            body,
            media_type="text/csv; charset=utf-8" if fmt == "csv" else "application/json",
            headers={"Content-Disposition": f'attachment; filename="{export.experiment.id}.{fmt}"'},
        )
        return self.console.finish(request, reader, response)

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
            done=request.query_params.get("done") if request.query_params.get("done") in DONE else None,
        )

    def _target_now(self, view: ProposalView) -> tuple[int | None, list[ProposalView]]:
        """The target unit's head revision now (None: no such unit yet) and the other open proposals on it."""
        head: int | None
        try:
            head = self.rt.revisions.history(view.target.space, view.target.unit).head_revision_num
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
        names = ("actor", "object_type", "object_id", "action", "since", "until")
        filters = {name: _text(request, name) or "" for name in names}
        query = AuditQuery(
            **{name: value for name, value in filters.items() if value},
            before=_int(request, "before"),
            limit=50,
        )
        page = self.rt.audit.log(query)
        check = self.rt.audit.verify()
        older = urlencode({**filters, "before": page.next_before}) if page.next_before is not None else None
        return self.console.render(
            request, reader, "audit.html", check=check, events=page.events, filters=filters, next_query=older
        )

    # ---- the authority --------------------------------------------------------------------------

    def unit(self, request: Request, reader: Reader) -> Response:
        """A unit of the embedded authority: its head, and every revision with the humans who decided it."""
        history = self.rt.revisions.history(request.path_params["space"], request.path_params["unit"])
        return self.console.render(request, reader, "unit.html", h=history)
