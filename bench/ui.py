"""The review console's experiment page over 1,000,000 points in 20 variants, against
experiment_compare (in-process MCP) on the same experiment in the same run.

Target (issue 15): the page's server time within 1.5x of experiment_compare's. The page is
requested through Starlette's TestClient (in-process: routing, the auth check, the use cases,
the pygal charts and the Jinja template; no socket). Two page figures: cold, the first view of
the experiment's current data (the comparison, the chart's bounded sample by primary-key probes,
and drawing both charts), and warm, a reload of unchanged data (the comparison and the page; the
charts were drawn for these counts already: web/pages.py `_charts`). Calls alternate cold page,
compare, warm page, so load on the machine falls on all alike. The bench also checks that the
page ships no more than the bounded sample: its size, and the points the spread chart was given
per variant.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import anyio

from _common import Verdicts, header, median, parse_args, spread, workbench
from compare import VARIANTS, seed

TARGET_RATIO = 1.5


async def run(db: Path, total: int, repeats: int) -> dict:
    from starlette.testclient import TestClient

    from cublab.domain.identity import human_identity
    from cublab.web import pages
    from cublab.web.app import build_console
    from cublab.web.auth import ConsoleAuth
    from cublab.web.memo import Memo

    async with workbench(db, "agent:bench-ui", variants=VARIANTS) as bench:
        start = time.perf_counter()
        seed(bench.runtime, bench.experiment_id, bench.variant_ids, total)
        seeded = time.perf_counter() - start

        drawn: list[int] = []
        chart = pages.spread_chart

        def counting(metric, samples):
            drawn.extend(len(v) for v in samples.values())
            return chart(metric, samples)

        pages.spread_chart = counting
        auth = ConsoleAuth(who=human_identity("human:bench"))
        browser = TestClient(build_console(bench.runtime, auth), follow_redirects=False)
        assert browser.get(f"/login?token={auth.login_token}").status_code == 303
        url = f"/experiments/{bench.experiment_id}"

        def page() -> tuple[float, int]:
            t = time.perf_counter()
            response = browser.get(url)
            elapsed = (time.perf_counter() - t) * 1000
            assert response.status_code == 200, response.text[:2000]
            return elapsed, len(response.content)

        console = browser.app.state.console  # type: ignore[attr-defined]

        def cold_page() -> tuple[float, int]:
            console.pages.drawn = Memo(64)  # forget what was drawn: the first view of this data
            return page()

        page()  # warm up: templates compiled, pygal imported, the database's pages cached for both
        await bench.call("experiment_compare", experiment_id=bench.experiment_id)
        cold_times, warm_times, compare_times, sizes = [], [], [], []
        for _ in range(repeats):
            elapsed, size = await anyio.to_thread.run_sync(cold_page)
            cold_times.append(elapsed)
            sizes.append(size)
            t = time.perf_counter()
            await bench.call("experiment_compare", experiment_id=bench.experiment_id)
            compare_times.append((time.perf_counter() - t) * 1000)
            elapsed, size = await anyio.to_thread.run_sync(page)
            warm_times.append(elapsed)
        pages.spread_chart = chart
    return {
        "seeded": seeded,
        "cold": cold_times,
        "warm": warm_times,
        "compare": compare_times,
        "sizes": sizes,
        "drawn": drawn,
    }


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    total, repeats = (20_000, 3) if args.quick else (1_000_000, 11)
    from cublab.web.pages import SAMPLE_LIMIT

    header(
        "bench/ui.py: the console's experiment page vs experiment_compare",
        args,
        points=f"{total:,} in {VARIANTS} variants, one metric",
        repeats=repeats,
        sample=f"at most {SAMPLE_LIMIT} points per variant drawn",
    )
    with tempfile.TemporaryDirectory(prefix="cublab-bench-") as tmp:
        r = anyio.run(run, Path(tmp, "cublab.db"), total, repeats)
    cold, warm, compare = median(r["cold"]), median(r["warm"]), median(r["compare"])
    print(f"  seeded {total:,} points with raw inserts through the store's engine in {r['seeded']:.1f} s")
    print(f"  experiment page, first view (TestClient, in-process): median {cold:.1f} ms ({spread(r['cold'])})")
    print(f"  experiment page, reload of unchanged data: median {warm:.1f} ms ({spread(r['warm'])})")
    print(f"  experiment_compare (in-process MCP, baseline): median {compare:.1f} ms ({spread(r['compare'])})")
    print(f"  ratio first view/compare: {cold / compare:.2f}x; reload/compare: {warm / compare:.2f}x")
    print(
        f"  page size: {max(r['sizes']) / 1024:.0f} KiB; points given to the spread chart per variant: max {max(r['drawn'])}"
    )
    verdicts = Verdicts(args)
    verdicts.check(
        f"first view within {TARGET_RATIO}x of experiment_compare",
        cold <= TARGET_RATIO * compare,
        f"{cold / compare:.2f}x",
    )
    verdicts.check(
        f"reload within {TARGET_RATIO}x of experiment_compare", warm <= TARGET_RATIO * compare, f"{warm / compare:.2f}x"
    )
    verdicts.check(
        "page ships at most the bounded sample",
        max(r["drawn"]) <= SAMPLE_LIMIT and max(r["sizes"]) < 1_000_000,
        f"{max(r['drawn'])} points per variant, {max(r['sizes']):,} bytes",
    )
    verdicts.exit()


if __name__ == "__main__":
    main()
