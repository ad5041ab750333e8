"""An experiment's export as text: JSON that reads back into the same model, and CSV a spreadsheet opens safely.

Pure functions over `ExperimentExport` (built by `ExperimentReads.export`), so the CLI's
`experiments export` and the web console's download write byte-for-byte the same file.

Agent text is data, in a spreadsheet too: a cell starting with `=`, `+`, `-` or `@` (or a
tab or carriage return, which some spreadsheets skip before reading a formula) would run
as a formula when the file is opened (CSV injection, OWASP). Every text cell starting so
gets a leading `'`, which spreadsheets show as text; numbers cublab formats are left as
they are (a negative mean is a number, not a formula).
"""

from __future__ import annotations

import csv
import io
from typing import Any

from cublab.app.read_models import ExperimentExport
from cublab.domain.canonical import canonical_json

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_COLUMNS = (
    "experiment_id",
    "experiment_name",
    "variant_id",
    "variant_name",
    "content_hash",
    "config",
    "metric",
    "objective",
    "direction",
    "rank",
    "n",
    "mean",
    "stddev",
    "min",
    "max",
    "ci_low",
    "ci_high",
    "verdict",
    "winner",
)


def neutralise(cell: str) -> str:
    """A text cell a spreadsheet shows as text: a leading `'` where it would otherwise start a formula."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)  # exact: a float reads back as the same double
    return neutralise(str(value))


def export_json(export: ExperimentExport) -> str:
    """The export as JSON; `ExperimentExport.model_validate_json` reads it back equal."""
    return export.model_dump_json(indent=2) + "\n"


def export_csv(export: ExperimentExport) -> str:
    """One row per variant and measured metric (one row with an empty metric for a variant without data).

    The configuration is its canonical JSON in one cell; every text cell is neutralised (`neutralise`).
    """
    exp = export.experiment
    by_metric = {c.metric: c for c in export.comparisons}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for item in export.variants:
        v = item.variant
        fixed = [exp.id, exp.name, v.id, v.name, v.content_hash, canonical_json(v.config)]
        metrics: list[str | None] = [c.metric for c in export.comparisons if c.metric in item.stats] or [None]
        for metric in metrics:
            stats = item.stats.get(metric, {}) if metric else {}
            comparison = by_metric.get(metric) if metric else None
            writer.writerow(
                [
                    _cell(value)
                    for value in (
                        *fixed,
                        metric,
                        comparison.is_objective if comparison else None,
                        exp.direction,
                        stats.get("rank"),
                        stats.get("n", 0),
                        stats.get("mean"),
                        stats.get("stddev"),
                        stats.get("min"),
                        stats.get("max"),
                        stats.get("ci_low"),
                        stats.get("ci_high"),
                        comparison.verdict if comparison else None,
                        (comparison.winner == v.id) if comparison else None,
                    )
                ]
            )
    return out.getvalue()
