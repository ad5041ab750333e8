"""The comparison drawn: server-side SVG from pygal, one series per variant.

Two charts per metric: each variant's mean with its confidence interval (from
the same statistics `experiment_compare` returns), and the spread of its
measurements as a box plot of a bounded sample (never every point: a page
stays the same size for a million measurements as for twelve).

pygal writes the SVG with an XML library, so a variant name is escaped like any
text node; its tooltip script (fetched from a CDN by default) is switched off and
its config script removed: the console works offline and runs no script.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from xml.etree import ElementTree

import pygal
from markupsafe import Markup
from pygal.style import Style

from cublab.app.outputs import Comparison

_STYLE = Style(
    background="white",
    plot_background="white",
    foreground="#222",
    foreground_strong="#111",
    foreground_subtle="#666",
    font_family="system-ui, sans-serif",
    colors=(
        "#1f77b4",
        "#ff7f0e",
        "#2ca02c",
        "#d62728",
        "#9467bd",
        "#8c564b",
        "#e377c2",
        "#7f7f7f",
        "#bcbd22",
        "#17becf",
    ),
)


def _config(**extra: object) -> dict[str, object]:
    return {
        "style": _STYLE,
        "js": [],  # no tooltip script from a CDN: the page renders as it is
        "disable_xml_declaration": True,  # inline in HTML
        "explicit_size": False,
        "width": 760,
        "height": 340,
        "legend_at_bottom": True,
        "legend_at_bottom_columns": 4,
        "truncate_legend": 40,
        "print_values": False,
        "show_x_labels": False,
        **extra,
    }


def _svg(chart: Any, css_class: str) -> Markup:
    """The chart's SVG without pygal's config script (the page runs none), serialized by ElementTree (escaped)."""
    tree = chart.render_tree()
    for parent in tree.iter():
        for child in list(parent):
            if isinstance(child.tag, str) and child.tag.rsplit("}", 1)[-1] == "script":
                parent.remove(child)
    svg = ElementTree.tostring(tree, encoding="unicode")
    return Markup(f'<figure class="chart {css_class}">{svg}</figure>')


def means_chart(comparison: Comparison) -> Markup | None:
    """Per-variant mean with its confidence interval (error bars), one series per measured variant."""
    measured = [v for v in comparison.variants if v.mean is not None]
    if not measured:
        return None
    level = f"{comparison.confidence_level:.0%}"
    chart = pygal.Bar(**_config(title=f"{comparison.metric}: mean and {level} CI ({comparison.direction})"))
    for v in measured:
        point: dict[str, object] = {"value": v.mean}
        if v.ci_low is not None and v.ci_high is not None:
            point["ci"] = {"low": v.ci_low, "high": v.ci_high}
        chart.add(v.name, [point])
    return _svg(chart, "means")


def spread_chart(metric: str, samples: Mapping[str, Sequence[float]]) -> Markup | None:
    """The spread of each variant's measurements (a box plot of its sample), one series per variant."""
    drawn = {name: list(values) for name, values in samples.items() if values}
    if not drawn:
        return None
    low = min(min(v) for v in drawn.values())
    high = max(max(v) for v in drawn.values())
    pad = (high - low) * 0.05 or abs(high) * 0.05 or 1.0
    chart = pygal.Box(
        **_config(
            title=f"{metric}: spread of the measurements",
            box_mode="tukey",
            range=(low - pad, high + pad),
            zero=low - pad,  # pygal draws from zero otherwise, and a narrow spread far from it is a flat line
        )
    )
    for name, values in drawn.items():
        chart.add(name, values)
    return _svg(chart, "spread")
