"""The reviewer's read use cases (app/experiment_reads.py, app/audit.py `log`, app/revisions.py, app/export.py):
filters, paging bounds, the chart sample's bound, exports that read back and cannot inject formulas, and the
humans behind each revision. Data is made as agents make it: through a real MCP client."""

from __future__ import annotations

import csv
import io
import json
import re
import statistics
from datetime import timedelta

import pytest
from pydantic import ValidationError

from cublab.app.export import export_csv, export_json, neutralise
from cublab.app.inputs import CompareExperiment
from cublab.app.read_models import MAX_PAGE, MAX_SAMPLE, AuditQuery, ExperimentExport, ExperimentFilter
from cublab.domain.errors import InvalidInput, NotFound
from cublab.domain.identity import human_identity
from support.mcp import call, finished_experiment
from support.runtime import AGENT, AGENT_PRINCIPAL, migrate

pytestmark = pytest.mark.anyio

ALICE = human_identity("human:alice")
BASE = {"lambdaMemory": 512, "lambdaTimeout": 30, "eventSource": "sqs"}
SPACE, UNIT = "mw-staging", "handler"


@pytest.fixture
def client(any_client):
    """Every test here runs on SQLite and on PostgreSQL (where configured): the reads are SQL of their own."""
    return any_client


@pytest.fixture
def seeded(any_runtime):
    any_runtime.review.import_unit(SPACE, UNIT, BASE, ALICE, tier="staging")
    return any_runtime


async def running_experiment(client, name="open", space=SPACE, unit=UNIT, hypothesis="h"):
    sandbox = await call(client, "sandbox_spawn", name="s", purpose="p", ttl="2h")
    return sandbox, await call(
        client,
        "experiment_create",
        sandbox_id=sandbox["id"],
        name=name,
        hypothesis=hypothesis,
        objective_metric="p95",
        direction="minimize",
        target_space=space,
        target_unit=unit,
    )


async def applied_experiment(client, runtime):
    """A finished experiment whose winner was promoted, acknowledged by alice and applied by carol."""
    exp, variants = await finished_experiment(client, SPACE, UNIT, BASE)
    proposal = await call(client, "variant_promote", variant_id=variants[1]["id"], rationale="faster", confidence=0.8)
    runtime.review.acknowledge(proposal["id"], ALICE, "fine by me")
    outcome = runtime.review.apply(proposal["id"], human_identity("human:carol"), "rolling out")
    assert outcome.applied, outcome.message
    return exp, variants, proposal


# ---- experiment listing ----------------------------------------------------------------------------


async def test_listing_filters_by_state_space_agent_and_sandbox(client, seeded, clock) -> None:
    applied, _, _ = await applied_experiment(client, seeded)
    sandbox, running = await running_experiment(client, name="running")
    _, elsewhere = await running_experiment(client, name="elsewhere", space="other-space", unit="other-unit")
    closing, closed = await running_experiment(client, name="closed")
    await call(client, "sandbox_destroy", sandbox_id=closing["id"])
    reads = seeded.experiment_reads

    def ids(**filters):
        return [e.id for e in reads.search(ExperimentFilter(**filters)).experiments]

    assert ids() == [closed["id"], elsewhere["id"], running["id"], applied["id"]]  # newest first
    assert ids(state="applied") == [applied["id"]]
    assert ids(state="running") == [elsewhere["id"], running["id"]]
    assert ids(state="closed") == [closed["id"]]
    assert ids(state="proposed") == []
    assert ids(space="other-space") == [elsewhere["id"]]
    assert ids(space=SPACE, unit=UNIT, state="running") == [running["id"]]
    assert ids(sandbox_id=sandbox["id"]) == [running["id"]]
    assert len(ids(agent=AGENT_PRINCIPAL)) == 4 and len(ids(agent=AGENT)) == 4  # the owner, or the exact creator
    assert ids(agent="agent:someone-else") == []
    row = reads.search(ExperimentFilter(state="applied")).experiments[0]
    assert row.variant_count == 2 and row.latest_proposal_id is not None and row.sandbox_status == "destroyed"

    clock.advance(hours=3)  # the running sandboxes expire on read: their experiments close
    assert ids(state="running") == []
    assert set(ids(state="closed")) == {closed["id"], elsewhere["id"], running["id"]}


async def test_a_pending_proposal_makes_its_experiment_proposed_until_it_expires(client, seeded, clock) -> None:
    exp, variants = await finished_experiment(client, SPACE, UNIT, BASE)
    await call(client, "variant_promote", variant_id=variants[1]["id"], rationale="faster", confidence=0.8)
    listing = seeded.experiment_reads.search(ExperimentFilter(state="proposed"))
    assert [e.id for e in listing.experiments] == [exp["id"]]
    clock.advance(days=8)  # proposals expire after 7 days: nothing is open any more
    assert seeded.experiment_reads.search(ExperimentFilter(state="proposed")).experiments == []
    assert [e.id for e in seeded.experiment_reads.search(ExperimentFilter(state="closed")).experiments] == [exp["id"]]


async def test_listing_pages_with_offset_and_limit_and_bounds_both(client, seeded) -> None:
    made = [(await running_experiment(client, name=f"e{n}"))[1]["id"] for n in range(5)]
    reads = seeded.experiment_reads
    first = reads.search(ExperimentFilter(limit=2))
    second = reads.search(ExperimentFilter(limit=2, offset=first.next_offset or 0))
    last = reads.search(ExperimentFilter(limit=2, offset=second.next_offset or 0))
    assert first.total == second.total == last.total == 5
    assert [e.id for page in (first, second, last) for e in page.experiments] == made[::-1]
    assert last.next_offset is None and first.next_offset == 2
    for bad in ({"limit": 0}, {"limit": MAX_PAGE + 1}, {"offset": -1}, {"state": "winning"}):
        with pytest.raises(ValidationError) as info:
            ExperimentFilter(**bad)
        assert next(iter(bad)) in str(info.value)


# ---- one experiment -----------------------------------------------------------------------------------


async def test_detail_shows_variants_comparison_batches_and_the_proposal(client, seeded) -> None:
    exp, variants, proposal = await applied_experiment(client, seeded)
    detail = seeded.experiment_reads.detail(exp["id"])
    assert detail.experiment.hypothesis == "more memory is faster" and detail.state == "applied"
    assert [v.id for v in detail.variants] == [v["id"] for v in variants]
    assert detail.variants[1].config == {**BASE, "lambdaMemory": 2048}
    assert list(detail.variants[1].config) == sorted(detail.variants[1].config)  # canonical key order
    assert detail.comparison is not None and detail.comparison.winner == variants[1]["id"]
    assert detail.metrics == ["p95"]
    assert detail.batch_total == 1 and len(detail.batches) == 1
    batch = detail.batches[0]
    assert batch.points == 20 and batch.logged_by == AGENT and batch.digest.startswith("sha256:")
    assert batch.metrics == ["p95"]
    assert [(p.id, p.state) for p in detail.proposals] == [(proposal["id"], "applied")]
    assert detail.sample is None  # only when asked for


async def test_detail_comparison_is_experiment_compare(client, seeded) -> None:
    exp, _ = await finished_experiment(client, SPACE, UNIT, BASE)
    detail = seeded.experiment_reads.detail(exp["id"])
    assert detail.comparison == seeded.experiments.compare(CompareExperiment(experiment_id=exp["id"]))


async def test_detail_lists_every_metric_and_each_batchs_metrics_and_pages_batches(client, seeded) -> None:
    _, exp = await running_experiment(client)
    v = await call(client, "variant_log", experiment_id=exp["id"], name="a", configuration=json.dumps(BASE))
    vid = v["variant"]["id"]
    for n in range(3):
        await call(
            client, "result_log", experiment_id=exp["id"], points=[{"variant": vid, "metric": "p95", "value": n}]
        )
    await call(client, "result_log", experiment_id=exp["id"], points=[{"variant": vid, "metric": "cost", "value": 1}])
    detail = seeded.experiment_reads.detail(exp["id"], batch_limit=2)
    assert detail.metrics == ["cost", "p95"]
    assert detail.batch_total == 4 and [b.metrics for b in detail.batches] == [["cost"], ["p95"]]
    assert detail.batches[0].id > detail.batches[1].id  # newest first
    with pytest.raises(InvalidInput, match="batch_limit"):
        seeded.experiment_reads.detail(exp["id"], batch_limit=201)
    with pytest.raises(NotFound, match="experiment_id"):
        seeded.experiment_reads.detail("exp_" + "0" * 26)


async def test_an_experiment_without_results_still_reads(client, seeded) -> None:
    _, exp = await running_experiment(client)
    detail = seeded.experiment_reads.detail(exp["id"], sample_limit=10)
    assert detail.variants == [] and detail.metrics == [] and detail.batches == []
    assert detail.comparison is not None and detail.comparison.verdict == "not_enough_data"
    assert detail.sample is not None and detail.sample.variants == []


# ---- the chart's sample ------------------------------------------------------------------------------


async def test_sample_is_bounded_deterministic_and_exact_when_small(client, seeded) -> None:
    _, exp = await running_experiment(client)
    big = (await call(client, "variant_log", experiment_id=exp["id"], name="big", configuration=json.dumps({"a": 1})))[
        "variant"
    ]
    small = (
        await call(client, "variant_log", experiment_id=exp["id"], name="small", configuration=json.dumps({"a": 2}))
    )["variant"]
    # Interleaved, as a load generator logs them: the sample must not alias on the stride.
    points = [
        {"variant": big["id"] if k % 4 else small["id"], "metric": "p95", "value": float(k % 97)} for k in range(4000)
    ]
    await call(client, "result_log", experiment_id=exp["id"], points=points)
    reads = seeded.experiment_reads
    sample = reads.sample(exp["id"], limit=100)
    by = {v.name: v for v in sample.variants}
    assert by["big"].n == 3000 and by["small"].n == 1000
    for row in sample.variants:
        assert 80 <= len(row.values) <= 100, (row.name, len(row.values))  # bounded, and not starved
        assert not row.exact
        assert row.min == 0.0 and row.max == 96.0  # over every point
        assert row.q1 is not None and row.median is not None and row.q3 is not None
        assert row.min <= row.q1 <= row.median <= row.q3 <= row.max
        assert 30 <= row.median <= 66  # the values are spread evenly over 0..96
    assert reads.sample(exp["id"], limit=100) == sample  # deterministic
    held = seeded.experiments.compare(CompareExperiment(experiment_id=exp["id"]))
    assert reads.sample_of(held, 100) == sample  # from a comparison already held: the same sample
    everything = reads.sample(exp["id"], limit=MAX_SAMPLE)
    small_all = next(v for v in everything.variants if v.name == "small")
    assert small_all.exact and len(small_all.values) == 1000
    ordered = sorted(small_all.values)
    assert small_all.median == (ordered[499] + ordered[500]) / 2
    expected = statistics.quantiles(small_all.values, n=4, method="inclusive")
    assert [small_all.q1, small_all.median, small_all.q3] == pytest.approx(expected)
    with pytest.raises(InvalidInput, match="limit"):
        reads.sample(exp["id"], limit=MAX_SAMPLE + 1)
    with pytest.raises(InvalidInput, match="limit"):
        reads.sample(exp["id"], limit=0)


def _measurement_reads(engine):
    """Every statement reading `measurement` while the listener is on, with its parameters."""
    seen: list[tuple[str, tuple]] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        if "measurement" in statement:
            seen.append((statement, tuple(parameters or ())))

    return seen, record


async def _log_many(client, exp_id, variants, batches, per_batch):
    for b in range(batches):
        points = [
            {"variant": variants[k % len(variants)], "metric": "p95", "value": float((b * per_batch + k) % 101)}
            for k in range(per_batch)
        ]
        await call(client, "result_log", experiment_id=exp_id, points=points)


async def test_sample_reads_a_bounded_number_of_points_by_primary_key(client, seeded) -> None:
    """The sample's cost does not grow with the experiment: it probes at most 4 points per value the chart may
    get, by primary key, and only tops a variant up with a LIMITed query when the probes fell short."""
    from sqlalchemy import event

    _, exp = await running_experiment(client)
    names = [f"v{i}" for i in range(4)]
    for name in names:
        await call(client, "variant_log", experiment_id=exp["id"], name=name, configuration=json.dumps({"n": name}))
    await _log_many(client, exp["id"], names, batches=8, per_batch=5000)  # 40,000 points, 10,000 a variant
    limit = 20
    seen, record = _measurement_reads(seeded.ctx.db.engine)
    event.listen(seeded.ctx.db.engine, "before_cursor_execute", record)
    try:
        sample = seeded.experiment_reads.sample(exp["id"], limit=limit)
    finally:
        event.remove(seeded.ctx.db.engine, "before_cursor_execute", record)
    assert [len(v.values) for v in sample.variants] == [limit] * 4
    assert all(v.n == 10_000 and not v.exact for v in sample.variants)
    probed = sum(len(params) // 2 for statement, params in seen if statement.startswith("WITH k"))
    topped = sum(params[-1] for statement, params in seen if "LIMIT" in statement)
    assert 0 < probed <= 4 * limit * 4, probed  # not 40,000: a few primary-key probes
    assert topped <= 4 * limit * 4
    assert len(seen) <= 40_000 // 400  # statements, too, bounded by the probes, not by the points
    if seeded.ctx.db.is_sqlite:
        with seeded.ctx.db.engine.connect() as conn:
            for statement, params in seen:
                if statement.startswith("WITH k"):
                    plan = " ".join(
                        str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params)
                    )
                    assert "SEARCH p USING PRIMARY KEY" in plan and "SCAN p" not in plan, plan
    assert seeded.experiment_reads.sample(exp["id"], limit=limit) == sample  # deterministic


async def test_a_variant_logged_in_a_few_batches_still_appears_in_the_sample(client, seeded) -> None:
    """Probes spread over every point would rarely land on a variant with a handful of points among tens of
    thousands: it is topped up, in full when it has at most `limit` points, and an excluded batch stays out."""
    _, exp = await running_experiment(client)
    names = ["a", "b", "rare", "burst"]
    for name in names:
        await call(client, "variant_log", experiment_id=exp["id"], name=name, configuration=json.dumps({"n": name}))
    await _log_many(client, exp["id"], ["a", "b"], batches=3, per_batch=8000)
    rare = [{"variant": "rare", "metric": "p95", "value": float(v)} for v in (7, 8, 9)]
    burst = [{"variant": "burst", "metric": "p95", "value": float(v)} for v in range(300)]
    await call(client, "result_log", experiment_id=exp["id"], points=rare + burst)
    bad = await call(
        client, "result_log", experiment_id=exp["id"], points=[{"variant": "rare", "metric": "p95", "value": 1e6}]
    )
    seeded.batches.exclude_batch(bad["batch_id"], "broken probe", ALICE)
    await _log_many(client, exp["id"], ["a", "b"], batches=3, per_batch=8000)
    sample = seeded.experiment_reads.sample(exp["id"], limit=50)
    by = {v.name: v for v in sample.variants}
    assert sorted(by["rare"].values) == [7.0, 8.0, 9.0] and by["rare"].exact and by["rare"].n == 3
    assert len(by["burst"].values) == 50 and by["burst"].n == 300 and not by["burst"].exact
    assert (
        len(set(by["burst"].values)) == 50 and max(by["burst"].values) > 150
    )  # spread over what was read, not its head
    assert len(by["a"].values) == 50 and len(by["b"].values) == 50


async def test_detail_carries_the_sample_of_the_compared_metric(client, seeded) -> None:
    exp, _variants = await finished_experiment(client, SPACE, UNIT, BASE)
    detail = seeded.experiment_reads.detail(exp["id"], sample_limit=5)
    assert detail.sample is not None and detail.sample.metric == "p95" and detail.sample.limit == 5
    assert [v.variant_id for v in detail.sample.variants] == [r.variant_id for r in detail.comparison.variants]
    assert all(len(v.values) <= 5 and v.n == 10 for v in detail.sample.variants)


# ---- export ------------------------------------------------------------------------------------------


async def test_export_round_trips_as_json_and_writes_one_csv_row_per_variant_and_metric(client, seeded) -> None:
    exp, variants = await finished_experiment(client, SPACE, UNIT, BASE)
    await call(
        client,
        "result_log",
        experiment_id=exp["id"],
        points=[{"variant": variants[0]["id"], "metric": "cost", "value": -3.5}],
    )
    export = seeded.experiment_reads.export(exp["id"])
    assert [c.metric for c in export.comparisons] == ["p95", "cost"]  # the objective first
    assert ExperimentExport.model_validate_json(export_json(export)) == export
    assert json.loads(export_json(export))["variants"][1]["variant"]["config"] == {**BASE, "lambdaMemory": 2048}
    rows = list(csv.DictReader(io.StringIO(export_csv(export))))
    assert [(r["variant_name"], r["metric"]) for r in rows] == [("v0", "p95"), ("v0", "cost"), ("v1", "p95")]
    v0 = rows[0]
    stats = export.variants[0].stats["p95"]
    assert float(v0["mean"]) == stats["mean"] and int(v0["n"]) == 10 and v0["objective"] == "true"
    assert json.loads(v0["config"]) == {**BASE, "lambdaMemory": 1024}
    assert rows[1]["mean"] == "-3.5"  # a number cublab wrote is not text: it stays a number
    assert rows[2]["winner"] == "true" and rows[0]["winner"] == "false"


async def test_csv_neutralises_formulas_in_agent_text(client, seeded) -> None:
    sandbox = await call(client, "sandbox_spawn", name="s", purpose="p")
    exp = await call(
        client,
        "experiment_create",
        sandbox_id=sandbox["id"],
        name='=HYPERLINK("http://evil","x")',
        hypothesis="h",
        objective_metric="+cmd|' /C calc'!A0",
        direction="minimize",
    )
    names = ["-2+3", "@SUM(A1:A9)", "+1", "ordinary"]
    for n, name in enumerate(names):
        await call(
            client, "variant_log", experiment_id=exp["id"], name=name, configuration=json.dumps({"k": n, "f": "=1+1"})
        )
    await call(
        client,
        "result_log",
        experiment_id=exp["id"],
        points=[{"variant": "ordinary", "metric": "+cmd|' /C calc'!A0", "value": 1.0}],
    )
    text = export_csv(seeded.experiment_reads.export(exp["id"]))
    rows = list(csv.reader(io.StringIO(text)))[1:]
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), f"formula cell {cell!r} in {row}"
    assert {r[3] for r in rows} == {"'-2+3", "'@SUM(A1:A9)", "'+1", "ordinary"}
    assert rows[0][1] == '\'=HYPERLINK("http://evil","x")'
    assert any(r[6] == "'+cmd|' /C calc'!A0" for r in rows)
    assert neutralise("a=b") == "a=b" and neutralise("-1") == "'-1"
    assert neutralise("\t=1") == "'\t=1" and neutralise("\r=1") == "'\r=1"  # stored text may hold these


# ---- the audit log --------------------------------------------------------------------------------


async def test_audit_log_filters_by_actor_object_action_and_time(client, seeded, clock) -> None:
    start = clock()
    _exp, _variants, proposal = await applied_experiment(client, seeded)
    audit = seeded.audit

    def actions(**query):
        return [e.action for e in audit.log(AuditQuery(**query)).events]

    assert actions(actor="human:carol") == ["proposal.apply"]
    assert actions(actor="HUMAN:Alice") == ["proposal.acknowledge", "authority.import"]  # folded as identities are
    assert actions(object_type="proposal", object_id=proposal["id"]) == [
        "proposal.apply",
        "proposal.acknowledge",
        "proposal.create",
    ]
    assert actions(action="proposal.") == ["proposal.apply", "proposal.acknowledge", "proposal.create"]
    assert actions(action="proposal") == []  # exact unless it ends in '.'
    assert actions(action="variant.log") == ["variant.log", "variant.log"]
    events = audit.log(AuditQuery(limit=200)).events
    assert all(e.intact for e in events) and events[0].seq > events[-1].seq
    clock.advance(minutes=5)
    later = clock()
    await call(client, "sandbox_spawn", name="later", purpose="p")
    assert actions(since=later) == ["sandbox.spawn"]
    assert actions(until=later).count("sandbox.spawn") == 1  # the experiment's, not the later one
    assert actions(since=start - timedelta(days=1), until=later)[-1] == "authority.import"


async def test_audit_log_pages_newest_first_and_bounds_the_page(client, seeded) -> None:
    for n in range(5):
        await call(client, "sandbox_spawn", name=f"s{n}", purpose="p")
    audit = seeded.audit
    seen, before = [], None
    while True:
        page = audit.log(AuditQuery(limit=2, before=before))
        seen += [e.seq for e in page.events]
        if page.next_before is None:
            break
        before = page.next_before
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen)) == 6  # the import and 5 spawns
    for bad in ({"limit": 0}, {"limit": MAX_PAGE + 1}, {"before": 0}):
        with pytest.raises(ValidationError):
            AuditQuery(**bad)
    with pytest.raises(ValidationError, match="timezone"):
        AuditQuery(since="2026-01-01T00:00:00")


async def test_a_tampered_event_reads_as_not_intact_and_verify_names_it_first(client, seeded) -> None:
    for n in range(3):
        await call(client, "sandbox_spawn", name=f"s{n}", purpose="p")
    assert seeded.audit.verify().first_broken is None
    with seeded.ctx.db.write() as session:
        session.connection().exec_driver_sql("UPDATE audit_event SET explanation = 'edited' WHERE seq IN (2, 4)")
    events = {e.seq: e for e in seeded.audit.log(AuditQuery()).events}
    assert [s for s, e in sorted(events.items()) if not e.intact] == [2, 4]
    check = seeded.audit.verify()
    assert not check.ok and check.first_broken == 2
    assert seeded.audit.event(2).explanation == "edited"
    with pytest.raises(NotFound, match="seq"):
        seeded.audit.event(999)


# ---- who stands behind a revision ----------------------------------------------------------------------


async def test_revision_names_the_humans_who_acknowledged_and_applied_it(client, seeded) -> None:
    exp, variants, proposal = await applied_experiment(client, seeded)
    history = seeded.revisions.history(SPACE, UNIT)
    assert history.head_revision_num == 2 and [r.revision_num for r in history.revisions] == [1, 2]
    imported, applied = history.revisions
    assert imported.source == "import" and imported.committed_by == "human:alice"
    assert imported.applied_by == "human:alice" and imported.approved_by == [] and imported.proposal_id is None
    assert applied.source == "proposal" and applied.committed_by == AGENT  # the proposer
    assert applied.approved_by == ["human:alice"] and applied.applied_by == "human:carol"
    assert applied.proposal_id == proposal["id"] and applied.experiment_id == exp["id"]
    assert applied.variant_id == variants[1]["id"]
    assert [(d.actor, d.decision) for d in applied.decisions] == [
        ("human:alice", "acknowledge"),
        ("human:carol", "apply"),
    ]
    detail = seeded.revisions.detail(SPACE, UNIT, 2)
    assert detail.data == {**BASE, "lambdaMemory": 2048} and detail.applied_by == "human:carol"
    with pytest.raises(NotFound):
        seeded.revisions.detail(SPACE, UNIT, 3)


async def test_export_cannot_act_on_a_terminal_and_json_keeps_the_text_exact(client, seeded) -> None:
    """Configuration documents may hold control and bidi characters (data, stored as is): the JSON escapes them
    and reads back exact; the CSV shows them escaped; and a line break in agent text never starts a CSV line."""
    _, exp = await running_experiment(client, hypothesis="line one\nline two")
    config = {"note": "\x1b[2J\u202eevil\x9b31m", "ok": "ünïcode"}
    await call(
        client, "variant_log", experiment_id=exp["id"], name="v", configuration=json.dumps(config), description="a\nb"
    )
    export = seeded.experiment_reads.export(exp["id"])
    raw = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
    as_json, as_csv = export_json(export), export_csv(export)
    assert not raw.search(as_json) and not raw.search(as_csv.replace("\r\n", "\n"))  # CRLF ends records (RFC 4180)
    assert ExperimentExport.model_validate_json(as_json).variants[0].variant.config == config
    assert as_csv.count("\r\n") == 2 and "\n" not in as_csv.replace("\r\n", "")  # a header and one record
    assert json.loads(next(csv.DictReader(io.StringIO(as_csv)))["config"]) == config


async def test_an_excluded_batch_is_marked_and_left_out_of_the_sample(client, seeded) -> None:
    """A batch a human excluded (`cublab results exclude`) is listed as excluded, and a chart never draws its points,
    as the comparison never counts them."""
    exp, variants = await finished_experiment(client, SPACE, UNIT, BASE)
    bad = await call(
        client,
        "result_log",
        experiment_id=exp["id"],
        points=[{"variant": variants[0]["id"], "metric": "p95", "value": 1e9} for _ in range(3)],
    )
    seeded.batches.exclude_batch(bad["batch_id"], "the load generator was broken", ALICE)
    detail = seeded.experiment_reads.detail(exp["id"], sample_limit=50)
    newest = detail.batches[0]
    assert newest.id == bad["batch_id"] and newest.excluded and newest.excluded_by == "human:alice"
    assert newest.exclusion_reason == "the load generator was broken" and not detail.batches[1].excluded
    assert detail.sample is not None
    first = next(v for v in detail.sample.variants if v.variant_id == variants[0]["id"])
    assert first.n == 10 and len(first.values) == 10 and max(first.values) < 1e9


async def test_values_too_large_to_compare_leave_the_rest_of_the_page_readable(client, seeded) -> None:
    """Values stored before the ±1e15 limit (written here behind the input model's back, in a database taken back to
    0009; migration 0010 builds the summaries they overflow) stop the comparison, which the detail says in words,
    and nothing else: variants, batches and proposals still read."""
    import sqlalchemy as sa

    _, exp = await running_experiment(client)
    variant = (
        await call(client, "variant_log", experiment_id=exp["id"], name="v", configuration=json.dumps({"a": 1}))
    )["variant"]
    logged = await call(
        client,
        "result_log",
        experiment_id=exp["id"],
        points=[{"variant": variant["id"], "metric": "p95", "value": 1}] * 2,
    )
    migrate(seeded, "0009")
    with seeded.ctx.db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE measurement SET value = 1e308 WHERE batch_id = :b"), {"b": logged["batch_id"]})
    migrate(seeded, "head")
    detail = seeded.experiment_reads.detail(exp["id"], sample_limit=10)
    assert detail.comparison is None and detail.sample is None
    assert detail.comparison_problem is not None and "too large to compare" in detail.comparison_problem
    assert [v.id for v in detail.variants] == [variant["id"]] and detail.batches[0].id == logged["batch_id"]
