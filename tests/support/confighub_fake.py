"""A local ConfigHub for tests: real HTTP on 127.0.0.1, the subset cublab uses.

It checks the bearer token, decodes base64 unit data (400 on garbage), enforces
Version on updates (409), filters lists with the `where` language
(`Field = 'v'`, `Labels.key = 'v'`, joined by AND), and records every request,
including the approve, apply and delete routes it also serves, so a test can
assert cublab never calls them. Faults are injected per route: a status, a
delay (for client timeouts, before or after the change is made), or death
(the server stops listening right after handling the request). Humans act on
the state directly (merge, approve, apply, restore), never through HTTP, so
the request log holds cublab's calls only.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

TOKEN = "test-token-not-a-secret"
CUBLAB_USER = "cublab-bot"
_CLAUSE = re.compile(r"^\s*(?P<field>[A-Za-z][A-Za-z0-9_.\-/]*)\s*=\s*'(?P<value>(?:[^']|'')*)'\s*$")


@dataclass
class Fault:
    method: str
    path: str  # a regex searched in the path
    status: int | None = None
    delay: float = 0.0
    delay_after: bool = False  # sleep after the change is made (the response is lost, the change is not)
    die: bool = False  # stop listening right after handling the request
    times: int = 1


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    status: int = 0
    body: Any = None


def _where(items: list[dict[str, Any]], where: str | None) -> list[dict[str, Any]]:
    if not where:
        return items
    clauses = []
    for part in re.split(r"\s+AND\s+", where):
        m = _CLAUSE.match(part)
        if m is None:
            raise ValueError(f"unsupported where clause: {part!r}")
        clauses.append((m["field"], m["value"].replace("''", "'")))

    def value(item: dict[str, Any], name: str) -> Any:
        if name.startswith("Labels."):
            return (item.get("Labels") or {}).get(name[len("Labels.") :])
        return item.get(name)

    return [i for i in items if all(value(i, f) is not None and str(value(i, f)) == v for f, v in clauses)]


@dataclass
class State:
    spaces: dict[str, dict[str, Any]] = field(default_factory=dict)
    units: dict[str, dict[str, Any]] = field(default_factory=dict)
    revisions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    change_sets: dict[str, dict[str, Any]] = field(default_factory=dict)
    tags: dict[str, dict[str, Any]] = field(default_factory=dict)
    revision_tags: dict[tuple[str, int], set[str]] = field(default_factory=dict)


class FakeConfigHub:
    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.state = State()
        self.requests: list[Recorded] = []  # every request since start, for the module-wide approve/apply check
        self.mark = 0  # calls() looks at requests from here on: tests set it with reset()
        self.faults: list[Fault] = []
        self.lock = threading.Lock()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.app = Starlette(routes=self._routes())

    # ---- life ---------------------------------------------------------------------------
    def start(self) -> FakeConfigHub:
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="error", lifespan="off", timeout_graceful_shutdown=1
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 5
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake ConfigHub did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(5)
            self._server = None

    @property
    def alive(self) -> bool:
        return self._server is not None and self._thread.is_alive() and not self._server.should_exit

    def wait_dead(self) -> None:
        if self._thread is not None:
            self._thread.join(5)
        self._server = None

    # ---- what humans do in ConfigHub (direct, never through HTTP) -------------------------
    def seed_space(self, slug: str, **labels: str) -> dict[str, Any]:
        space = {"SpaceID": str(uuid.uuid4()), "Slug": slug, "Labels": dict(labels)}
        self.state.spaces[space["SpaceID"]] = space
        return space

    def space(self, slug: str) -> dict[str, Any]:
        return next(s for s in self.state.spaces.values() if s["Slug"] == slug)

    def unit(self, space: str, slug: str) -> dict[str, Any] | None:
        sid = self.space(space)["SpaceID"]
        return next((u for u in self.state.units.values() if u["SpaceID"] == sid and u["Slug"] == slug), None)

    def units_in(self, space: str) -> list[dict[str, Any]]:
        sid = self.space(space)["SpaceID"]
        return [u for u in self.state.units.values() if u["SpaceID"] == sid]

    def change_sets_in(self, space: str) -> list[dict[str, Any]]:
        sid = self.space(space)["SpaceID"]
        return [c for c in self.state.change_sets.values() if c["SpaceID"] == sid]

    def seed_unit(
        self, space: str, slug: str, text: str, toolchain: str = "AppConfig/JSON", user: str = "alice@example.com"
    ) -> dict[str, Any]:
        sid = self.space(space)["SpaceID"]
        unit = self._new_unit(
            sid,
            {
                "Slug": slug,
                "ToolchainType": toolchain,
                "Data": base64.b64encode(text.encode()).decode(),
                "LastChangeDescription": "seeded",
            },
            None,
            user,
        )
        unit["LiveRevisionNum"] = unit["HeadRevisionNum"]
        return unit

    def human_update(
        self,
        space: str,
        slug: str,
        text: str,
        *,
        description: str,
        change_set_id: str | None = None,
        user: str = "alice@example.com",
    ) -> dict[str, Any]:
        unit = self.unit(space, slug)
        return self._update(
            unit,
            {**unit, "Data": base64.b64encode(text.encode()).decode(), "LastChangeDescription": description},
            change_set_id,
            user,
        )

    def human_merge(self, proposal_id: str, user: str = "alice@example.com") -> dict[str, Any]:
        """Copy a shadow unit's data into its upstream target, in the proposal's change set (a reviewer's merge)."""
        shadow = next(
            u
            for u in self.state.units.values()
            if (u.get("Labels") or {}).get("proposal-id") == proposal_id and u["SpaceID"] != self._space_of_target(u)
        )
        target_space, target_unit = shadow["Labels"]["target-space"], shadow["Labels"]["target-unit"]
        change_set = shadow["Annotations"]["change-set-id"]
        target = self.unit(target_space, target_unit)
        return self._update(
            target,
            {**target, "Data": shadow["Data"], "LastChangeDescription": f"merge {proposal_id}"},
            change_set,
            user,
        )

    def _space_of_target(self, unit: dict[str, Any]) -> str | None:
        labels = unit.get("Labels") or {}
        return self.space(labels["target-space"])["SpaceID"] if "target-space" in labels else None

    def human_approve(self, space: str, slug: str, user: str = "bob@example.com") -> None:
        unit = self.unit(space, slug)
        unit["ApprovedBy"] = sorted({*unit.get("ApprovedBy", []), user})
        self._head_revision(unit)["ApprovedBy"] = list(unit["ApprovedBy"])

    def human_apply(self, space: str, slug: str) -> None:
        unit = self.unit(space, slug)
        unit["LiveRevisionNum"] = unit["HeadRevisionNum"]

    def _head_revision(self, unit: dict[str, Any]) -> dict[str, Any]:
        return next(r for r in self.state.revisions[unit["UnitID"]] if r["RevisionNum"] == unit["HeadRevisionNum"])

    def tags_of(self, unit: dict[str, Any]) -> set[str]:
        ids = self.state.revision_tags.get((unit["UnitID"], unit["HeadRevisionNum"]), set())
        return {self.state.tags[t]["Slug"] for t in ids}

    def calls(self, method: str | None = None, path: str = "") -> list[Recorded]:
        return [
            r for r in self.requests[self.mark :] if (method is None or r.method == method) and re.search(path, r.path)
        ]

    def reset(self) -> FakeConfigHub:
        """Empty state and no faults for the next test; the request log is kept (calls() starts here)."""
        self.state = State()
        self.faults.clear()
        self.mark = len(self.requests)
        return self

    # ---- the model ----------------------------------------------------------------------
    def _new_unit(self, space_id: str, body: dict[str, Any], change_set_id: str | None, user: str) -> dict[str, Any]:
        unit_id = str(uuid.uuid4())
        unit = {
            "UnitID": unit_id,
            "SpaceID": space_id,
            "Slug": body["Slug"],
            "DisplayName": body.get("DisplayName") or body["Slug"],
            "ToolchainType": body.get("ToolchainType") or "AppConfig/JSON",
            "Data": body.get("Data") or "",
            "Labels": dict(body.get("Labels") or {}),
            "Annotations": dict(body.get("Annotations") or {}),
            "ChangeSetID": change_set_id,
            "ApprovedBy": [],
            "ApplyGates": {},
            "HeadRevisionNum": 0,
            "LiveRevisionNum": 0,
            "LastChangeDescription": "",
            "UpstreamUnitID": body.get("UpstreamUnitID"),
            "Version": 0,
        }
        self.state.units[unit_id] = unit
        self.state.revisions[unit_id] = []
        return self._commit(unit, body.get("Data") or "", body.get("LastChangeDescription") or "", change_set_id, user)

    def _commit(
        self, unit: dict[str, Any], data: str, description: str, change_set_id: str | None, user: str
    ) -> dict[str, Any]:
        unit["HeadRevisionNum"] += 1
        unit["Version"] += 1
        unit["Data"], unit["LastChangeDescription"], unit["ChangeSetID"], unit["ApprovedBy"] = (
            data,
            description,
            change_set_id,
            [],
        )
        self.state.revisions[unit["UnitID"]].append(
            {
                "RevisionID": str(uuid.uuid4()),
                "UnitID": unit["UnitID"],
                "RevisionNum": unit["HeadRevisionNum"],
                "Description": description,
                "Source": "api",
                "UserID": user,
                "ApprovedBy": [],
                "ApplyGates": {},
                "ChangeSetID": change_set_id,
                "Data": data,
            }
        )
        return unit

    def _update(
        self, unit: dict[str, Any], body: dict[str, Any], change_set_id: str | None, user: str
    ) -> dict[str, Any]:
        for key in ("Labels", "Annotations", "DisplayName"):
            if key in body:
                unit[key] = body[key]
        return self._commit(unit, body.get("Data") or "", body.get("LastChangeDescription") or "", change_set_id, user)

    # ---- HTTP ---------------------------------------------------------------------------
    def _routes(self) -> list[Route]:
        r = self._handle
        paths = [
            "/api/space",
            "/api/space/{sid}",
            "/api/space/{sid}/unit",
            "/api/space/{sid}/unit/tag",
            "/api/space/{sid}/unit/{uid}",
            "/api/space/{sid}/unit/{uid}/data",
            "/api/space/{sid}/unit/{uid}/revision",
            "/api/space/{sid}/unit/{uid}/approve",
            "/api/space/{sid}/unit/{uid}/apply",
            "/api/space/{sid}/change_set",
            "/api/space/{sid}/change_set/{cid}",
            "/api/space/{sid}/tag",
        ]
        return [Route(p, r, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]) for p in paths]

    def _fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.method == method and re.search(fault.path, path):
                    fault.times -= 1
                    return fault
        return None

    async def _handle(self, request: Request) -> Response:
        path = request.url.path[len("/api") :]
        rec = Recorded(request.method, path, dict(request.query_params))
        self.requests.append(rec)
        if request.headers.get("authorization") != f"Bearer {self.token}":
            rec.status = 401
            return JSONResponse({"Message": "unauthorized"}, status_code=401)
        fault = self._fault(request.method, path)
        if fault and fault.status:
            rec.status = fault.status
            return JSONResponse({"Message": f"injected {fault.status}"}, status_code=fault.status)
        if fault and fault.delay and not fault.delay_after:
            await asyncio.sleep(fault.delay)
        try:
            body = await request.json() if request.method in ("POST", "PUT", "PATCH") and await request.body() else None
        except ValueError:
            rec.status = 400
            return JSONResponse({"Message": "body is not JSON"}, status_code=400)
        rec.body = body
        with self.lock:
            response = self._dispatch(request.method, path, dict(request.query_params), body)
        rec.status = response.status_code
        if fault and fault.delay and fault.delay_after:
            await asyncio.sleep(fault.delay)
        if fault and fault.die:
            await self._die()
        return response

    async def _die(self) -> None:
        """Stop listening before this response goes out, so the next request is refused."""
        server = self._server
        server.should_exit = True
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and (
            not getattr(server, "servers", None) or any(s.is_serving() for s in server.servers)
        ):
            await asyncio.sleep(0.01)

    def _dispatch(self, method: str, path: str, query: dict[str, str], body: Any) -> Response:
        parts = path.strip("/").split("/")
        try:
            if parts == ["space"] and method == "GET":
                return JSONResponse(_where(list(self.state.spaces.values()), query.get("where")))
            sid = parts[1]
            if sid not in self.state.spaces:
                return JSONResponse({"Message": f"no space {sid}"}, status_code=404)
            rest = parts[2:]
            if rest == [] and method == "GET":
                return JSONResponse(self.state.spaces[sid])
            if rest == ["unit"]:
                if method == "GET":
                    return JSONResponse(
                        _where([u for u in self.state.units.values() if u["SpaceID"] == sid], query.get("where"))
                    )
                if method == "POST":
                    return self._create_unit(sid, body, query.get("change_set_id"))
            if rest == ["unit", "tag"] and method == "POST":
                tag_id = (body or {}).get("TagID")
                if tag_id not in self.state.tags:
                    return JSONResponse({"Message": "no such tag"}, status_code=404)
                units = _where([u for u in self.state.units.values() if u["SpaceID"] == sid], query.get("where"))
                for u in units:
                    self.state.revision_tags.setdefault((u["UnitID"], u["HeadRevisionNum"]), set()).add(tag_id)
                return JSONResponse({"Tagged": len(units)})
            if len(rest) >= 2 and rest[0] == "unit":
                unit = self.state.units.get(rest[1])
                if unit is None or unit["SpaceID"] != sid:
                    return JSONResponse({"Message": "no such unit"}, status_code=404)
                if len(rest) == 2 and method == "GET":
                    return JSONResponse(unit)
                if len(rest) == 2 and method == "PUT":
                    if (body or {}).get("Version") != unit["Version"]:
                        return JSONResponse(
                            {"Message": f"Version {body.get('Version')} is stale; the unit is at {unit['Version']}"},
                            status_code=409,
                        )
                    if not self._valid_b64((body or {}).get("Data")):
                        return JSONResponse({"Message": "Data is not base64"}, status_code=400)
                    if query.get("change_set_id") and query["change_set_id"] not in self.state.change_sets:
                        return JSONResponse({"Message": "no such change set"}, status_code=400)
                    return JSONResponse(self._update(unit, body, query.get("change_set_id"), CUBLAB_USER))
                if len(rest) == 2 and method == "DELETE":
                    return JSONResponse({"Message": "deleted (a test must never see this)"})
                if rest[2:] == ["data"] and method == "GET":
                    return PlainTextResponse(base64.b64decode(unit["Data"]).decode())
                if rest[2:] == ["revision"] and method == "GET":
                    return JSONResponse(self.state.revisions[unit["UnitID"]])
                if rest[2:] in (["approve"], ["apply"]) and method == "POST":
                    return JSONResponse({"Message": f"{rest[2]} recorded (a test must never see this from cublab)"})
            if rest == ["change_set"]:
                if method == "GET":
                    return JSONResponse(
                        _where([c for c in self.state.change_sets.values() if c["SpaceID"] == sid], query.get("where"))
                    )
                if method == "POST":
                    if any(c["SpaceID"] == sid and c["Slug"] == body["Slug"] for c in self.state.change_sets.values()):
                        return JSONResponse({"Message": f"change set {body['Slug']} exists"}, status_code=409)
                    cs = {
                        "ChangeSetID": str(uuid.uuid4()),
                        "SpaceID": sid,
                        "Slug": body["Slug"],
                        "Description": body.get("Description", ""),
                        "Labels": dict(body.get("Labels") or {}),
                        "Annotations": dict(body.get("Annotations") or {}),
                        "State": "Open",
                        "StartTagID": None,
                        "EndTagID": None,
                    }
                    self.state.change_sets[cs["ChangeSetID"]] = cs
                    return JSONResponse(cs)
            if rest == ["tag"]:
                if method == "GET":
                    return JSONResponse(
                        _where([t for t in self.state.tags.values() if t["SpaceID"] == sid], query.get("where"))
                    )
                if method == "POST":
                    tag = {"TagID": str(uuid.uuid4()), "SpaceID": sid, "Slug": body["Slug"]}
                    self.state.tags[tag["TagID"]] = tag
                    return JSONResponse(tag)
        except ValueError as exc:
            return JSONResponse({"Message": str(exc)}, status_code=400)
        return JSONResponse({"Message": f"no route {method} {path}"}, status_code=404)

    @staticmethod
    def _valid_b64(data: Any) -> bool:
        try:
            base64.b64decode(data or "", validate=True).decode()
            return True
        except (binascii.Error, UnicodeDecodeError):
            return False

    def _create_unit(self, sid: str, body: Any, change_set_id: str | None) -> Response:
        if not body or not body.get("Slug"):
            return JSONResponse({"Message": "Slug is required"}, status_code=400)
        if not self._valid_b64(body.get("Data")):
            return JSONResponse({"Message": "Data is not base64"}, status_code=400)
        if any(u["SpaceID"] == sid and u["Slug"] == body["Slug"] for u in self.state.units.values()):
            return JSONResponse({"Message": f"unit {body['Slug']} exists"}, status_code=409)
        if body.get("UpstreamUnitID") and body["UpstreamUnitID"] not in self.state.units:
            return JSONResponse({"Message": "no such upstream unit"}, status_code=400)
        return JSONResponse(self._new_unit(sid, body, change_set_id, CUBLAB_USER))


def approve_or_apply_calls(fake: FakeConfigHub) -> list[Recorded]:
    """Every call a governed client must never make: approve, apply, delete."""
    return [r for r in fake.requests if r.path.endswith(("/approve", "/apply")) or r.method == "DELETE"]


# ---- shared test helpers: a cublab runtime on the fake, and a finished experiment ---------------

BASE = {"lambdaMemory": 512, "lambdaTimeout": 30, "eventSource": "sqs", "region": "eu-west-1"}


def confighub_runtime(
    db: str,
    clock: Any,
    fake: FakeConfigHub,
    *,
    token: str | None = None,
    timeout: float = 0.5,
    mode: str = "shadow",
    confirmed: bool = False,
    agent: str = "agent:pytest-session1",
) -> Any:
    from cublab.config import Settings
    from cublab.runtime import Runtime

    settings = Settings(
        db=db,
        agent=agent,
        policy_path=None,
        authority="confighub",
        confighub_url=fake.url,
        confighub_token=token or fake.token,
        confighub_mode=mode,
        confighub_in_place_confirmed=confirmed,
        confighub_timeout=timeout,
    )
    return Runtime(settings, clock=clock)


def seed_confighub(fake: FakeConfigHub, space: str, unit: str | None, data: dict[str, Any] | None, tier: str) -> None:
    import json

    fake.seed_space(space, tier=tier)
    fake.seed_space(space + "-proposals", tier=tier, purpose="cublab-proposals")
    if unit is not None:
        fake.seed_unit(space, unit, json.dumps(data, sort_keys=True))


async def finished_experiment(
    client: Any, space: str, unit: str, changes=({"lambdaMemory": 1024}, {"lambdaMemory": 2048}), means=(200.0, 120.0)
) -> tuple[dict, list[dict]]:
    """A finished experiment over this module's BASE whose last variant wins clearly."""
    from support.mcp import finished_experiment as over

    return await over(client, space, unit, BASE, changes, means)
