"""An experiment's export as text: JSON that reads back into the same model, and CSV a spreadsheet opens safely.

Pure functions over `ExperimentExport` (built by `ExperimentReads.export`), so the CLI's
`experiments export` and the web console's download write byte-for-byte the same file.

Agent text is data, in a spreadsheet too: a cell starting with `=`, `+`, `-` or `@` (or a
tab or carriage return, which some spreadsheets skip before reading a formula) would run
as a formula when the file is opened (CSV injection, OWASP). Every text cell starting so
gets a leading `'`, which spreadsheets show as text; numbers cublab formats are left as
they are (a negative mean is a number, not a formula).

And it is data on a terminal too (`cublab experiments export ID | less`): the JSON escapes every
non-ASCII character (`\u202e`), which reads back as the same text. A CSV text cell shows
control and bidirectional characters as escapes (`domain.text.for_display`: only text the
input rules refuse, left by an old or tampered database, can hold them) and its line breaks
and tabs as `\n` and `\t`, so every record is one line and no cell can start a line of its
own; the configuration cell is JSON with the same escaping.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from cublab.app.read_models import ExperimentExport
from cublab.domain.text import for_display

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
    return neutralise(for_display(str(value)).replace("\n", "\\n").replace("\t", "\\t"))


def _json(value: Any, indent: int | None = None) -> str:
    """JSON in canonical key order with every non-ASCII character escaped: exact when read back, inert when shown."""
    separators = (",", ":") if indent is None else (",", ": ")
    return json.dumps(value, sort_keys=indent is None, indent=indent, separators=separators, ensure_ascii=True)


def export_json(export: ExperimentExport) -> str:
    """The export as JSON; `ExperimentExport.model_validate_json` reads it back equal."""
    return _json(export.model_dump(mode="json"), indent=2) + "\n"


def export_csv(export: ExperimentExport) -> str:
    """One row per variant and measured metric (one row with an empty metric for a variant without data).

    The configuration is JSON in canonical key order in one cell; every text cell is neutralised (`neutralise`).
    """
    exp = export.experiment
    by_metric = {c.metric: c for c in export.comparisons}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for item in export.variants:
        v = item.variant
        fixed = [exp.id, exp.name, v.id, v.name, v.content_hash, _json(v.config)]
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
