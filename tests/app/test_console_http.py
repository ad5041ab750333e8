"""The review console over HTTP (Starlette's TestClient, in-process): who may read, who may decide,
and that every refusal writes nothing. The browser walk is tests/e2e/test_console_browser.py."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from cublab.domain.errors import Forbidden, InvalidInput
from cublab.domain.identity import human_identity
from cublab.web.app import build_console
from cublab.web.auth import SESSION_COOKIE, ConsoleAuth
from cublab.web.serve import console_auth
from support.console import SPACE, UNIT, csrf_of, pending_proposal, seed_unit
from support.mcp import call
from support.runtime import AGENT

pytestmark = pytest.mark.anyio

ALICE = human_identity("human:alice")
PROXY = ("127.0.0.1", 40000)
ELSEWHERE = ("10.1.2.3", 40000)


@pytest.fixture
async def proposal(runtime, client) -> dict[str, Any]:
    seed_unit(runtime)
    _, _, proposal = await pending_proposal(client)
    assert proposal["risk"]["level"] == "MEDIUM" and proposal["requirement"]["kind"] == "acknowledgment"
    return proposal


def logged_in(runtime, who=ALICE) -> TestClient:
    auth = ConsoleAuth(who=who)
    browser = TestClient(build_console(runtime, auth), follow_redirects=False)
    response = browser.get(f"/login?token={auth.login_token}")
    assert response.status_code == 303 and SESSION_COOKIE in response.cookies
    return browser


def written(runtime, proposal_id: str) -> tuple[int, int, str]:
    """What a refusal must leave as it was: audit events, decisions on the proposal, its state."""
    view = runtime.proposals.document(proposal_id).proposal
    return runtime.audit.verify().events, len(view.decisions), view.state


def head(runtime) -> int:
    return runtime.revisions.history(SPACE, UNIT).head_revision_num


async def test_acknowledge_then_apply_moves_the_head(runtime, proposal) -> None:
    browser = logged_in(runtime)
    page = browser.get(f"/proposals/{proposal['id']}")
    assert page.status_code == 200
    assert "+region: eu-central-1" in page.text and "-region: eu-west-1" in page.text
    acked = browser.post(
        f"/proposals/{proposal['id']}/acknowledge", data={"csrf": csrf_of(page.text), "reason": "checked the chart"}
    )
    assert acked.status_code == 303, acked.text
    view = runtime.proposals.document(proposal["id"]).proposal
    assert [(d.actor, d.decision, d.reason) for d in view.decisions] == [
        ("human:alice", "acknowledge", "checked the chart")
    ]
    assert head(runtime) == 1
    page = browser.get(acked.headers["location"])
    applied = browser.post(f"/proposals/{proposal['id']}/apply", data={"csrf": csrf_of(page.text)})
    assert applied.status_code == 303, applied.text
    assert head(runtime) == 2, "apply through the console makes the proposal the unit's head"
    assert runtime.proposals.document(proposal["id"]).proposal.state == "applied"
    assert "applied as revision 2 by human:alice" in browser.get(applied.headers["location"]).text


async def test_a_crafted_link_cannot_put_words_on_the_page(runtime, proposal) -> None:
    browser = logged_in(runtime)
    page = browser.get(f"/proposals/{proposal['id']}", params={"done": "approved by the security team"})
    assert page.status_code == 200 and "security team" not in page.text and 'id="done"' not in page.text


async def test_without_a_session_nothing_is_read_or_decided(runtime, proposal) -> None:
    before = written(runtime, proposal["id"])
    browser = TestClient(build_console(runtime, ConsoleAuth(who=ALICE)), follow_redirects=False)
    for path in ("/", "/experiments", f"/proposals/{proposal['id']}", "/audit", "/policy", "/decisions"):
        response = browser.get(path)
        assert response.status_code == 401 and "not logged in" in response.text, path
        assert proposal["id"] not in response.text
    response = browser.post(f"/proposals/{proposal['id']}/acknowledge", data={"csrf": "x", "reason": "r"})
    assert response.status_code == 401
    browser.cookies.set(SESSION_COOKIE, "forged.cookie.value")
    assert browser.get("/").status_code == 401
    assert written(runtime, proposal["id"]) == before


async def test_the_login_token_works_once_and_a_wrong_one_never(runtime, proposal) -> None:
    auth = ConsoleAuth(who=ALICE)
    token = auth.login_token
    assert token
    browser = TestClient(build_console(runtime, auth), follow_redirects=False)
    wrong = browser.get("/login?token=" + token[:-1] + ("A" if token[-1] != "A" else "B"))
    assert wrong.status_code == 403 and "wrong login token" in wrong.text
    assert SESSION_COOKIE not in wrong.cookies
    assert browser.get("/login").status_code == 403
    good = browser.get(f"/login?token={token}")
    assert good.status_code == 303
    assert "httponly" in good.headers["set-cookie"].lower() and "samesite=strict" in good.headers["set-cookie"].lower()
    assert browser.get("/").status_code == 200
    again = TestClient(build_console(runtime, auth), follow_redirects=False).get(f"/login?token={token}")
    assert again.status_code == 403 and "already used" in again.text
    assert auth.login_token is None


async def test_a_post_without_its_csrf_token_is_refused(runtime, proposal) -> None:
    before = written(runtime, proposal["id"])
    browser = logged_in(runtime)
    url = f"/proposals/{proposal['id']}/acknowledge"
    assert browser.post(url, data={"reason": "no token"}).status_code == 403
    assert browser.post(url, data={"reason": "empty", "csrf": ""}).status_code == 403
    other = logged_in(runtime)  # another session's token does not fit this session
    other_token = csrf_of(other.get(f"/proposals/{proposal['id']}").text)
    refused = browser.post(url, data={"reason": "other session", "csrf": other_token})
    assert refused.status_code == 403 and "CSRF" in refused.text
    assert written(runtime, proposal["id"]) == before


async def test_the_proposer_cannot_approve_under_a_human_name(runtime, proposal) -> None:
    before = written(runtime, proposal["id"])
    proposer = human_identity("human:" + AGENT.split(":", 1)[1])  # human:pytest-session1
    browser = logged_in(runtime, proposer)
    page = browser.get(f"/proposals/{proposal['id']}")
    refused = browser.post(
        f"/proposals/{proposal['id']}/acknowledge", data={"csrf": csrf_of(page.text), "reason": "my own"}
    )
    assert refused.status_code == 403 and "proposer" in refused.text
    assert written(runtime, proposal["id"]) == before


async def test_a_high_proposal_is_approved_not_acknowledged(runtime, client) -> None:
    seed_unit(runtime)
    _, variants = await _high_experiment(client)
    proposal = await call(client, "variant_promote", variant_id=variants[-1]["id"], rationale="r", confidence=0.5)
    assert proposal["risk"]["level"] == "HIGH"
    browser = logged_in(runtime)
    page = browser.get(f"/proposals/{proposal['id']}")
    assert 'id="approve-form"' in page.text and 'id="acknowledge-form"' not in page.text
    before = written(runtime, proposal["id"])
    refused = browser.post(f"/proposals/{proposal['id']}/acknowledge", data={"csrf": csrf_of(page.text), "reason": "r"})
    assert refused.status_code == 409 and "needs explicit approval" in refused.text
    assert written(runtime, proposal["id"]) == before
    blank = browser.post(f"/proposals/{proposal['id']}/reject", data={"csrf": csrf_of(page.text), "reason": " "})
    assert blank.status_code == 400 and "reason" in blank.text
    assert written(runtime, proposal["id"]) == before
    approved = browser.post(f"/proposals/{proposal['id']}/approve", data={"csrf": csrf_of(page.text), "reason": "ok"})
    assert approved.status_code == 303
    assert runtime.proposals.document(proposal["id"]).proposal.state == "approved"


async def _high_experiment(client):
    from support.console import BASE

    return await _finished(client, ({"lambdaMemory": 1024}, {"awsAccountId": "222222222222"}), BASE)


async def _finished(client, changes, base):
    from support.mcp import finished_experiment

    return await finished_experiment(client, SPACE, UNIT, base, changes, (200.0, 120.0))


async def test_a_signed_tier_shows_the_cli_command_and_refuses_a_post(runtime, client) -> None:
    from support.console import BASE

    runtime.review.import_unit("mw-prod", UNIT, BASE, ALICE, tier="production")
    from support.mcp import finished_experiment

    _, variants = await finished_experiment(
        client, "mw-prod", UNIT, BASE, ({"lambdaMemory": 1024}, {"lambdaMemory": 2048}), (200.0, 120.0)
    )
    proposal = await call(client, "variant_promote", variant_id=variants[-1]["id"], rationale="r", confidence=0.5)
    assert proposal["requirement"]["signed"]
    browser = logged_in(runtime)
    page = browser.get(f"/proposals/{proposal['id']}")
    assert f"cublab proposals ack {proposal['id']}" in page.text and "--sign-with" in page.text
    assert 'id="acknowledge-form"' not in page.text and 'id="approve-form"' not in page.text
    before = written(runtime, proposal["id"])
    refused = browser.post(
        f"/proposals/{proposal['id']}/acknowledge", data={"csrf": csrf_of(page.text), "reason": "unsigned"}
    )
    assert refused.status_code == 403 and "--sign-with" in refused.text
    assert written(runtime, proposal["id"]) == before


# ---- behind a trusted proxy ---------------------------------------------------------------------


def proxied(runtime, peer=PROXY) -> TestClient:
    auth = ConsoleAuth(user_header="X-Forwarded-User", trusted_proxies=["127.0.0.1"])
    return TestClient(build_console(runtime, auth), follow_redirects=False, client=peer)


async def test_the_proxy_names_the_reader_who_decides(runtime, proposal) -> None:
    browser = proxied(runtime)
    browser.headers["X-Forwarded-User"] = "Bob@Example.com"
    page = browser.get(f"/proposals/{proposal['id']}")
    assert page.status_code == 200 and "human:bob@example.com" in page.text
    assert browser.get("/login?token=anything").status_code == 404, "no token login behind a proxy"
    acked = browser.post(f"/proposals/{proposal['id']}/acknowledge", data={"csrf": csrf_of(page.text), "reason": "ok"})
    assert acked.status_code == 303, acked.text
    assert runtime.proposals.document(proposal["id"]).proposal.decisions[0].actor == "human:bob@example.com"


async def test_a_proxy_header_from_an_untrusted_address_is_refused(runtime, proposal) -> None:
    before = written(runtime, proposal["id"])
    browser = proxied(runtime, ELSEWHERE)
    browser.headers["X-Forwarded-User"] = "mallory"
    page = browser.get(f"/proposals/{proposal['id']}")
    assert page.status_code == 403 and "10.1.2.3" in page.text and proposal["id"] not in page.text
    # even with a token lifted from a trusted session, the untrusted peer is refused before its form is read
    trusted = proxied(runtime)
    trusted.headers["X-Forwarded-User"] = "mallory"
    token = csrf_of(trusted.get(f"/proposals/{proposal['id']}").text)
    browser.cookies = trusted.cookies
    posted = browser.post(f"/proposals/{proposal['id']}/acknowledge", data={"csrf": token, "reason": "r"})
    assert posted.status_code == 403
    assert written(runtime, proposal["id"]) == before


@pytest.mark.parametrize("name", ["agent:claude-code-session1", "system:cublab", "", "ops team"])
async def test_a_non_human_cannot_decide_through_the_proxy(runtime, proposal, name) -> None:
    before = written(runtime, proposal["id"])
    browser = proxied(runtime)
    browser.headers["X-Forwarded-User"] = name
    assert browser.get("/").status_code in (401, 403)
    posted = browser.post(f"/proposals/{proposal['id']}/acknowledge", data={"csrf": "x", "reason": "r"})
    assert posted.status_code in (401, 403)
    assert written(runtime, proposal["id"]) == before


# ---- starting ------------------------------------------------------------------------------------


def test_start_refuses_an_agent_environment_and_an_open_address(monkeypatch) -> None:
    monkeypatch.delenv("CUBLAB_AGENT", raising=False)
    common = {"user_header": None, "trusted_proxies": [], "os_user": "alice"}
    assert console_auth(as_=None, host="127.0.0.1", **common).who == ALICE
    assert console_auth(as_="human:Carol", host="::1", **common).who == human_identity("human:carol")
    with pytest.raises(Forbidden, match=r"--host: 0\.0\.0\.0 is not a loopback address"):
        console_auth(as_=None, host="0.0.0.0", **common)
    with pytest.raises(InvalidInput, match="--as"):
        console_auth(as_="agent:claude-code-session1", host="127.0.0.1", **common)
    proxy = console_auth(
        as_=None, host="0.0.0.0", user_header="X-Forwarded-User", trusted_proxies=["10.0.0.0/8"], os_user="alice"
    )
    assert proxy.proxy_mode and proxy.login_token is None
    with pytest.raises(InvalidInput, match="--trusted-proxy"):
        console_auth(as_=None, host="0.0.0.0", user_header="X-Forwarded-User", trusted_proxies=[], os_user="a")
    monkeypatch.setenv("CUBLAB_AGENT", "")
    with pytest.raises(Forbidden, match="CUBLAB_AGENT"):
        console_auth(as_=None, host="127.0.0.1", **common)


async def test_agent_text_is_data_on_every_page(runtime, client) -> None:
    seed_unit(runtime)
    from support.console import BASE
    from support.mcp import finished_experiment

    hostile = '<script>alert(1)</script><img src=x onerror="alert(2)">'
    experiment, variants = await finished_experiment(
        client, SPACE, UNIT, BASE, ({"lambdaMemory": 1024}, {"lambdaMemory": 2048, "note": hostile}), (200.0, 120.0)
    )
    proposal = await call(client, "variant_promote", variant_id=variants[-1]["id"], rationale=hostile, confidence=0.5)
    browser = logged_in(runtime)
    for path in (f"/proposals/{proposal['id']}", f"/experiments/{experiment['id']}", "/"):
        page = browser.get(path)
        assert page.status_code == 200, path
        assert "<script" not in page.text and "<img" not in page.text, path
        assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "&lt;script&gt;" in browser.get(f"/proposals/{proposal['id']}").text


# ---- pages over the read use cases ---------------------------------------------------------------


async def test_the_experiment_page_ships_a_bounded_sample(runtime, client, monkeypatch) -> None:
    from cublab.web import pages
    from support.console import BASE
    from support.mcp import finished_experiment

    seed_unit(runtime)
    experiment, variants = await finished_experiment(
        client, SPACE, UNIT, BASE, ({"lambdaMemory": 1024}, {"lambdaMemory": 2048}), (200.0, 120.0)
    )
    browser = logged_in(runtime)
    drawn: list[dict[str, int]] = []
    chart = pages.spread_chart
    monkeypatch.setattr(
        pages,
        "spread_chart",
        lambda metric, samples: drawn.append({k: len(v) for k, v in samples.items()}) or chart(metric, samples),
    )
    small = browser.get(f"/experiments/{experiment['id']}")
    assert small.status_code == 200 and "The spread shows every measurement" in small.text
    assert drawn[-1] == {"v0": 10, "v1": 10}
    many = pages.SAMPLE_LIMIT * 6
    for variant in variants:
        points = [{"variant": variant["id"], "metric": "p95", "value": 150.0 + (k % 97)} for k in range(many)]
        await call(client, "result_log", experiment_id=experiment["id"], points=points)
    large = browser.get(f"/experiments/{experiment['id']}")
    assert large.status_code == 200 and f"at most {pages.SAMPLE_LIMIT} measurements per variant" in large.text
    assert "estimated from a sample" in large.text and "estimated from a sample" not in small.text
    assert drawn[-1] == {"v0": pages.SAMPLE_LIMIT, "v1": pages.SAMPLE_LIMIT}, "never more points than the sample"
    assert len(large.content) < 2 * len(small.content), "the page does not grow with the measurements"
    assert ">1210<" in large.text, "the statistics count every measurement"


async def test_export_downloads_and_the_unit_history_names_the_humans(runtime, proposal) -> None:
    browser = logged_in(runtime)
    experiment_id = proposal["experiment_id"]
    csv = browser.get(f"/experiments/{experiment_id}/export.csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert f'filename="{experiment_id}.csv"' in csv.headers["content-disposition"]
    assert "v2" in csv.text and "eu-central-1" in csv.text
    data = browser.get(f"/experiments/{experiment_id}/export.json").json()
    assert {v["variant"]["name"] for v in data["variants"]} == {"v0", "v1", "v2"}
    assert browser.get(f"/experiments/{experiment_id}/export.xml").status_code == 400
    page = browser.get(f"/proposals/{proposal['id']}")
    browser.post(f"/proposals/{proposal['id']}/acknowledge", data={"csrf": csrf_of(page.text), "reason": "ok"})
    browser.post(f"/proposals/{proposal['id']}/apply", data={"csrf": csrf_of(page.text)})
    unit = browser.get(f"/units/{SPACE}/{UNIT}")
    assert unit.status_code == 200
    row = next(r for r in unit.text.split("<tr>") if proposal["id"] in r)
    assert row.count("human:alice") == 2, "approved (acknowledged) and applied by the human, proposed by the agent"
    assert AGENT in row


async def test_the_inbox_puts_what_is_due_first(runtime, client, proposal) -> None:
    from support.console import BASE
    from support.mcp import finished_experiment

    _, variants = await finished_experiment(
        client, SPACE, UNIT, BASE, ({"lambdaMemory": 1024}, {"lambdaTimeout": 60}), (200.0, 120.0)
    )
    low = await call(client, "variant_promote", variant_id=variants[-1]["id"], rationale="r", confidence=0.5)
    assert low["risk"]["level"] == "LOW"
    text = logged_in(runtime).get("/").text
    waiting = text[text.index('id="waiting"') :]
    assert waiting.index(low["id"]) < waiting.index(proposal["id"]), "a 5-minute window closes before a 4-hour one"
    assert "objection window closes" in waiting
    page = logged_in(runtime).get(f"/proposals/{proposal['id']}").text
    assert "Competing proposals" in page and low["id"] in page


async def test_the_audit_page_filters_and_names_the_first_broken_event(runtime, proposal) -> None:
    from support.audit import tamper

    browser = logged_in(runtime)
    page = browser.get("/audit", params={"action": "proposal."})
    assert page.status_code == 200 and "Chain intact" in page.text
    assert "proposal.create" in page.text and "variant.log" not in page.text
    assert browser.get("/audit", params={"since": "2026-01-01T00:00:00"}).status_code == 400, "a time needs its zone"
    tamper(runtime.settings.db, "UPDATE audit_event SET actor = 'agent:someone-else' WHERE seq = 3")
    broken = browser.get("/audit")
    assert "Chain BROKEN" in broken.text and 'id="first-broken"' in broken.text and "#3<" in broken.text


async def test_a_decision_behind_the_proxy_records_the_proxy_account(runtime, proposal) -> None:
    from cublab.app.read_models import AuditQuery

    browser = proxied(runtime)
    browser.headers["X-Forwarded-User"] = "bob"
    page = browser.get(f"/proposals/{proposal['id']}")
    browser.post(f"/proposals/{proposal['id']}/acknowledge", data={"csrf": csrf_of(page.text), "reason": "ok"})
    event = runtime.audit.log(AuditQuery(action="proposal.acknowledge")).events[0]
    assert event.actor == "human:bob" and event.details["os_account"] == "proxy:human:bob"


async def test_every_page_renders_with_obligations_overdue_and_a_decision_logged(runtime, client, clock, proposal):
    await call(
        client,
        "breakglass_declare",
        incident_id="INC-7",
        reason="handler OOM-killed; memory raised by hand",
        units=[f"{SPACE}/{UNIT}"],
    )
    await call(client, "bypass_check", context="sandbox", kind="Sandbox", name="try", ttl="2h")
    clock.advance(hours=2)  # the capture (due within 1 hour) is overdue
    browser = logged_in(runtime)
    decisions = browser.get("/decisions", params={"criterion": "1"})
    assert decisions.status_code == 200
    assert 'class="banner overdue"' in decisions.text and "OVERDUE capture for incident INC-7" in decisions.text
    assert "incident INC-7" in decisions.text and ">overdue<" in decisions.text
    assert ">bypass<" in decisions.text or ">use_confighub<" in decisions.text, "the decision log lists the answer"
    assert "No decision matches" in browser.get("/decisions", params={"verdict": "use_confighub"}).text
    assert browser.get("/decisions", params={"criterion": "x"}).status_code == 400
    policy = browser.get("/policy")
    assert policy.status_code == 200 and runtime.policy.digest in policy.text and "production_tiers" in policy.text
    listed = browser.get("/experiments", params={"state": "proposed", "agent": "agent:pytest"})
    assert listed.status_code == 200 and proposal["experiment_id"] in listed.text
    assert "No experiment matches" in browser.get("/experiments", params={"space": "elsewhere"}).text
    frozen = browser.get("/experiments", params={"state": "frozen"})
    assert frozen.status_code == 400 and "state: Input should be" in frozen.text
    pending = browser.get("/proposals", params={"state": "pending"})
    assert pending.status_code == 200 and proposal["id"] in pending.text
    assert browser.get(f"/experiments/{proposal['experiment_id']}", params={"a": "nonsense"}).status_code == 200
    assert browser.get("/experiments/exp_nope").status_code == 400
    missing = browser.get("/no/such/page")
    assert missing.status_code == 404 and "default-src 'none'" in missing.headers["content-security-policy"]
    assert browser.get("/policy", headers={"x": "y"}).status_code == 200
    assert browser.delete("/policy").status_code == 405
    assert browser.get("/proposals/prp_01m8e3b9ymq0whszzdd65hn0mh").status_code == 404
