"""A reviewer's walk through the console in a real browser (Debian's Chromium driven by Playwright):
start `cublab ui`, log in with the URL it prints, find the pending proposal in the inbox, read its diff,
see the comparison drawn, acknowledge with a reason, apply, and the unit's head moves (read through the
use cases, not the page). One browser for the module; skipped, visibly, without /usr/bin/chromium.

With CUBLAB_UPDATE_SCREENSHOTS=1 the walk also saves docs/screenshots/{inbox,experiment,proposal}.png.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from cublab.mcp_server import build_server
from support.console import CHANGES, SPACE, UNIT, pending_proposal, seed_unit
from support.runtime import make_runtime
from support.serve import child_env, cublab_command, free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
UPDATE_SCREENSHOTS = os.environ.get("CUBLAB_UPDATE_SCREENSHOTS") == "1"
READER = "human:reviewer"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent: apt-get install -y chromium (.ci/run installs it)"
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> dict[str, Any]:
    """A database holding a unit in staging and a pending MEDIUM proposal from a three-variant experiment."""
    db = str(tmp_path_factory.mktemp("console") / "cublab.db")
    runtime = make_runtime(db)

    async def build() -> tuple[dict, list[dict], dict]:
        async with Client(build_server(runtime)) as client:
            return await pending_proposal(client)

    try:
        seed_unit(runtime)
        experiment, variants, proposal = anyio.run(build)
    finally:
        runtime.close()
    return {"db": db, "experiment": experiment, "variants": variants, "proposal": proposal}


@pytest.fixture(scope="module")
def console(demo, tmp_path_factory) -> Iterator[str]:
    """`cublab ui` on the demo database; yields the login URL it printed."""
    port = free_port()
    log = tmp_path_factory.mktemp("console-log") / "stderr.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [*cublab_command(), "ui", "--db", demo["db"], "--port", str(port), "--as", READER],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            env=child_env(),
            text=True,
        )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+/login\?token=\S+", line)
        assert found, f"cublab ui printed no login URL: {line!r} {log.read_text()}"
        yield found.group(0)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def shoot(page: Any, name: str) -> None:
    if UPDATE_SCREENSHOTS:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def unit_head(db: str) -> int:
    runtime = make_runtime(db)
    try:
        return runtime.revisions.history(SPACE, UNIT).head_revision_num
    finally:
        runtime.close()


def test_a_reviewer_acknowledges_and_applies_in_the_browser(demo, console, browser) -> None:
    proposal_id, experiment_id = demo["proposal"]["id"], demo["experiment"]["id"]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(15_000)
    page.goto(console)
    assert page.url.endswith("/"), "the login URL leads to the inbox"
    assert page.locator("header .who").inner_text() == f"signed in as {READER}"
    waiting = page.locator("#waiting")
    assert proposal_id in waiting.inner_text()
    shoot(page, "inbox")

    page.click(f"#waiting a:text('{proposal_id}')")
    assert page.url.endswith(f"/proposals/{proposal_id}")
    diff = page.locator("#diff").inner_text()
    assert "-region: eu-west-1" in diff and "+region: eu-central-1" in diff
    assert "MEDIUM" in page.locator("h2:has-text('Risk class')").inner_text()

    page.click(f"a:text('{experiment_id}')")
    assert page.url.endswith(f"/experiments/{experiment_id}")
    means = page.locator("figure.chart.means svg")
    assert means.count() == 1, "the comparison is drawn"
    series = {
        c
        for cls in means.locator("g.series").evaluate_all("els => els.map(e => e.getAttribute('class'))")
        for c in cls.split()
    }
    assert len({c for c in series if c.startswith("serie-")}) == len(CHANGES), "one series per variant"
    assert "winner" in page.locator(".verdict").inner_text()
    shoot(page, "experiment")

    page.go_back()
    page.fill("#acknowledge-form input[name=reason]", "the chart and the diff agree")
    page.click("#acknowledge-form button")
    assert "acknowledge recorded as human:reviewer" in page.locator("#done").inner_text()
    assert unit_head(demo["db"]) == 1, "acknowledging does not apply"
    shoot(page, "proposal")

    page.click("#apply-form button")
    assert "applied as revision 2 by human:reviewer" in page.locator("#done").inner_text()
    assert unit_head(demo["db"]) == 2, "the unit's head moved to the proposal"
    page.close()

    other = browser.new_context()  # another browser profile: the printed URL was spent by the first visit
    stranger = other.new_page()
    response = stranger.goto(console)
    assert response is not None and response.status == 403
    assert "already used" in stranger.locator("#error").inner_text()
    inbox = stranger.goto(console.split("/login")[0] + "/")
    assert inbox is not None and inbox.status == 401
    other.close()
