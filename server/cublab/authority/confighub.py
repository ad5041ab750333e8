"""ConfigHub as the authority, over its REST API: the one module that speaks it.

The API moves quickly, so the subset cublab uses is pinned here and nowhere
else (spaces, units, change sets, tags, revisions; see
shared/reference/confighub.md) and one contract suite runs it against a local
fake and the embedded authority alike. On the wire: PascalCase fields, unit
Data base64 in JSON, `Authorization: Bearer <token>` (never logged, never in an
error message), explicit timeouts, and the SQL-like `where` filter.

What cublab does in ConfigHub, and what it never does:
- one proposal = one ChangeSet `proposal-<id>` in the target space, carrying the
  provenance labels and annotations;
- shadow mode (the default): the proposed data goes into a unit of the
  `<space>-proposals` space whose UpstreamUnitID is the target, so the target's
  head does not move until a human merges it with the change set, approves and
  applies (`cub unit update --change-set`, `cub unit approve`, `cub unit apply`).
  A ChangeSet belongs to one space, so the shadow unit points at it by label
  and annotation rather than by ChangeSetID;
- in-place mode: a new head revision of the target written with
  `change_set_id`, only when the operator has confirmed that the target space
  has an approval trigger (`vet-approvedby`), since otherwise nothing stops a
  plain `cub unit apply` of an agent's revision;
- export is idempotent: the change set is looked up by its slug (derived from
  the proposal id) and the unit by `Labels.proposal-id` before anything is
  created, so a retry after a timeout finds what the lost response created;
- never approve, never apply, never delete; never write the target unit in
  shadow mode.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any

import httpx
import yaml

from cublab import __version__
from cublab.authority.base import ChangeRequest, Observation, ProposedChange, RemoteAuthority, SpaceInfo, UnitHead
from cublab.authority.errors import AuthorityAuthFailed, AuthorityRejected, AuthorityStale, AuthorityUnavailable
from cublab.domain.errors import InvalidInput, NotFound

SHADOW = "shadow"
IN_PLACE = "in-place"
PROPOSALS_SUFFIX = "-proposals"
_LABEL_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$")


def quote(value: str) -> str:
    """A string literal of the `where` language: single quotes, doubled inside."""
    return "'" + str(value).replace("'", "''") + "'"


def label_filter(key: str, value: str) -> str:
    if not _LABEL_KEY.match(key):
        raise InvalidInput(f"label: {key!r} is not a label key ConfigHub accepts")
    return f"Labels.{key} = {quote(value)}"


def api_base(url: str) -> str:
    """CONFIGHUB_URL names the hub (as for `cub`); the REST API lives under /api."""
    url = url.rstrip("/")
    return url if url.endswith("/api") else url + "/api"


def encode_data(data: dict[str, Any], toolchain_type: str) -> str:
    text = (
        yaml.safe_dump(data, sort_keys=True)
        if "yaml" in toolchain_type.lower()
        else json.dumps(data, sort_keys=True, indent=2) + "\n"
    )
    return base64.b64encode(text.encode()).decode()


def decode_data(b64: str | None) -> dict[str, Any]:
    if not b64:
        return {}
    loaded = yaml.safe_load(base64.b64decode(b64).decode())  # JSON is YAML
    return loaded if isinstance(loaded, dict) else {}


def _unwrap(item: dict[str, Any], key: str) -> dict[str, Any]:
    """List endpoints may wrap each object (`{"Unit": {...}, "Space": {...}}`)."""
    return item[key] if isinstance(item.get(key), dict) else item


class ConfigHubClient:
    """The pinned subset of ConfigHub's REST API. One method per call; no policy here."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 10.0,
        connect_timeout: float = 3.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not url or not token:
            raise InvalidInput(
                "confighub: CONFIGHUB_URL and CONFIGHUB_TOKEN are both required (an operator gets a token with `cub auth get-token`)"
            )
        self.base = api_base(url)
        self.timeout = timeout
        self._http = httpx.Client(
            base_url=self.base,
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            transport=transport,
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
                "User-Agent": f"cublab/{__version__}",
            },
            follow_redirects=False,
        )

    def __repr__(self) -> str:  # the token stays out of every repr and log line
        return f"ConfigHubClient({self.base!r})"

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        what = f"ConfigHub {method} {path}"
        try:
            response = self._http.request(
                method, path, params={k: v for k, v in (params or {}).items() if v is not None}, json=body
            )
        except httpx.TimeoutException:
            raise AuthorityUnavailable(f"{what} timed out after {self.timeout:g}s (at {self.base})") from None
        except httpx.TransportError as exc:
            raise AuthorityUnavailable(
                f"ConfigHub at {self.base} is unreachable ({type(exc).__name__}: {exc})"
            ) from None
        status = response.status_code
        if status < 400:
            if not response.content:
                return None
            return response.json() if "json" in response.headers.get("content-type", "") else response.text
        detail = response.text[:300].strip()
        if status == 401:
            raise AuthorityAuthFailed(
                f"{what}: 401 unauthorized: ConfigHub refused the token; check CONFIGHUB_TOKEN "
                "(expired or for another hub? get a new one with `cub auth get-token`) and CONFIGHUB_URL"
            )
        if status == 403:
            raise AuthorityAuthFailed(
                f"{what}: 403 forbidden: the token's user may not do this; check its permissions on the "
                f"space (read the target space, write the proposals space and change sets): {detail}"
            )
        if status == 409:
            raise AuthorityStale(f"{what}: 409 conflict: {detail or 'the unit changed since its Version was read'}")
        if status == 429 or status >= 500:
            raise AuthorityUnavailable(f"{what}: {status} from ConfigHub: {detail}")
        if status == 404:
            raise NotFound(f"{what}: 404 not found: {detail}")
        raise AuthorityRejected(f"{what}: {status}: {detail}")

    # ---- spaces ---------------------------------------------------------------------------
    def list_spaces(self, where: str | None = None) -> list[dict[str, Any]]:
        return [_unwrap(s, "Space") for s in self._call("GET", "/space", params={"where": where}) or []]

    # ---- units ------------------------------------------------------------------------------
    def list_units(self, space_id: str, where: str | None = None) -> list[dict[str, Any]]:
        return [_unwrap(u, "Unit") for u in self._call("GET", f"/space/{space_id}/unit", params={"where": where}) or []]

    def get_unit(self, space_id: str, unit_id: str) -> dict[str, Any]:
        return _unwrap(self._call("GET", f"/space/{space_id}/unit/{unit_id}"), "Unit")

    def create_unit(self, space_id: str, unit: dict[str, Any], change_set_id: str | None = None) -> dict[str, Any]:
        return _unwrap(
            self._call("POST", f"/space/{space_id}/unit", params={"change_set_id": change_set_id}, body=unit), "Unit"
        )

    def update_unit(
        self, space_id: str, unit_id: str, unit: dict[str, Any], change_set_id: str | None = None
    ) -> dict[str, Any]:
        """PUT the whole unit; its Version must be the one read, or ConfigHub answers 409."""
        return _unwrap(
            self._call("PUT", f"/space/{space_id}/unit/{unit_id}", params={"change_set_id": change_set_id}, body=unit),
            "Unit",
        )

    def list_revisions(self, space_id: str, unit_id: str) -> list[dict[str, Any]]:
        return [_unwrap(r, "Revision") for r in self._call("GET", f"/space/{space_id}/unit/{unit_id}/revision") or []]

    # ---- change sets and tags -------------------------------------------------------------------
    def list_change_sets(self, space_id: str, where: str | None = None) -> list[dict[str, Any]]:
        return [
            _unwrap(c, "ChangeSet")
            for c in self._call("GET", f"/space/{space_id}/change_set", params={"where": where}) or []
        ]

    def create_change_set(self, space_id: str, change_set: dict[str, Any]) -> dict[str, Any]:
        return _unwrap(self._call("POST", f"/space/{space_id}/change_set", body=change_set), "ChangeSet")

    def list_tags(self, space_id: str, where: str | None = None) -> list[dict[str, Any]]:
        return [_unwrap(t, "Tag") for t in self._call("GET", f"/space/{space_id}/tag", params={"where": where}) or []]

    def create_tag(self, space_id: str, slug: str) -> dict[str, Any]:
        return _unwrap(self._call("POST", f"/space/{space_id}/tag", body={"Slug": slug}), "Tag")

    def tag_units(self, space_id: str, where: str, tag_id: str) -> Any:
        """Tag the head revisions of the units the filter selects."""
        return self._call("POST", f"/space/{space_id}/unit/tag", params={"where": where}, body={"TagID": tag_id})


@dataclass(frozen=True)
class ConfigHubChange(ProposedChange):
    """Where an exported proposal lives in ConfigHub: what sync and `proposals show` need."""

    mode: str = SHADOW
    change_set_slug: str = ""


def shadow_slug(unit: str, proposal_id: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", f"{unit}-{proposal_id}".lower()).strip("-")[:120]


class ConfigHubAuthority:
    name = "confighub"
    remote = True

    def __init__(self, client: ConfigHubClient, *, mode: str = SHADOW, in_place_confirmed: bool = False) -> None:
        if mode not in (SHADOW, IN_PLACE):
            raise InvalidInput(f"confighub mode: {mode!r} is not 'shadow' or 'in-place'")
        if mode == IN_PLACE and not in_place_confirmed:
            raise InvalidInput(
                "confighub mode: in-place writes agent revisions onto the target's head; it is refused unless you confirm "
                "the target spaces have an approval trigger (cub trigger create ... vet-approvedby 1): pass "
                "--in-place-confirmed-approval-trigger or set CUBLAB_CONFIGHUB_IN_PLACE_CONFIRMED=1"
            )
        self.client = client
        self.mode = mode

    def close(self) -> None:
        self.client.close()

    def __repr__(self) -> str:
        return f"ConfigHubAuthority({self.client.base!r}, mode={self.mode!r})"

    # ---- reads ------------------------------------------------------------------------------
    def reachable(self) -> bool:
        try:
            self.client.list_spaces(where="Slug = 'cublab-reachability-probe'")
            return True
        except (AuthorityUnavailable, AuthorityAuthFailed):
            return False

    def _space(self, slug: str) -> dict[str, Any] | None:
        found = [s for s in self.client.list_spaces(where=f"Slug = {quote(slug)}") if s.get("Slug") == slug]
        return found[0] if found else None

    def _space_or_raise(self, slug: str, what: str = "target_space") -> dict[str, Any]:
        space = self._space(slug)
        if space is None:
            raise NotFound(f"{what}: no space {slug!r} in ConfigHub at {self.client.base}")
        return space

    def _unit(self, space_id: str, slug: str) -> dict[str, Any] | None:
        found = [u for u in self.client.list_units(space_id, where=f"Slug = {quote(slug)}") if u.get("Slug") == slug]
        return self.client.get_unit(space_id, found[0]["UnitID"]) if found else None

    def get_space(self, slug: str) -> SpaceInfo | None:
        space = self._space(slug)
        return None if space is None else SpaceInfo(space["SpaceID"], space["Slug"], dict(space.get("Labels") or {}))

    def get_head(self, space: str, unit: str) -> UnitHead | None:
        row = self._space_or_raise(space)
        u = self._unit(row["SpaceID"], unit)
        if u is None:
            return None
        return UnitHead(
            u["UnitID"],
            u["SpaceID"],
            u["Slug"],
            u.get("ToolchainType") or "AppConfig/JSON",
            decode_data(u.get("Data")),
            int(u.get("HeadRevisionNum") or 0),
            int(u.get("LiveRevisionNum") or 0),
            int(u.get("Version") or 0),
            dict(u.get("Labels") or {}),
        )

    def preflight(self, space: str) -> None:
        """Refuse before anything is stored when the proposal could never be exported as configured."""
        if self.mode == SHADOW:
            self._space_or_raise(space + PROPOSALS_SUFFIX, "target_space")  # NotFound names it; an operator creates it

    # ---- the export ----------------------------------------------------------------------------
    def _change_set(self, space_id: str, change: ChangeRequest) -> dict[str, Any]:
        found = self.client.list_change_sets(space_id, where=f"Slug = {quote(change.change_set_slug)}")
        found = [c for c in found if c.get("Slug") == change.change_set_slug]
        if found:
            return found[0]
        return self.client.create_change_set(
            space_id,
            {
                "Slug": change.change_set_slug,
                "Description": change.description,
                "Labels": change.labels,
                "Annotations": change.annotations,
            },
        )

    def _tag(self, space_id: str, unit_id: str, tags: tuple[str, ...]) -> None:
        for slug in tags:
            found = [t for t in self.client.list_tags(space_id, where=f"Slug = {quote(slug)}") if t.get("Slug") == slug]
            tag = found[0] if found else self.client.create_tag(space_id, slug)
            self.client.tag_units(space_id, f"UnitID = {quote(unit_id)}", tag["TagID"])

    def propose(self, change: ChangeRequest) -> ConfigHubChange:
        proposal_id = change.labels.get("proposal-id")
        if not proposal_id:
            raise InvalidInput(
                "labels: a ConfigHub export needs the proposal-id label (it is how a retry finds the first attempt)"
            )
        space = self._space_or_raise(change.space)
        change_set = self._change_set(space["SpaceID"], change)
        target = self._unit(space["SpaceID"], change.unit)
        if target is None and not change.new_unit:
            raise NotFound(f"target_unit: no unit {change.unit!r} in ConfigHub space {change.space!r} any more")
        if target is not None and change.new_unit:
            raise AuthorityStale(
                f"target_unit: unit {change.unit!r} now exists in ConfigHub space {change.space!r}; the proposal was for a new unit"
            )
        data_b64 = encode_data(change.data, change.toolchain_type)
        mine = label_filter("proposal-id", proposal_id)
        if self.mode == SHADOW:
            home = self._space_or_raise(change.space + PROPOSALS_SUFFIX, "target_space")
            existing = self.client.list_units(home["SpaceID"], where=mine)
            unit = (
                existing[0]
                if existing
                else self.client.create_unit(
                    home["SpaceID"],
                    {
                        "Slug": shadow_slug(change.unit, proposal_id),
                        "DisplayName": f"{change.unit} (proposal {proposal_id})",
                        "ToolchainType": change.toolchain_type,
                        "Data": data_b64,
                        "UpstreamUnitID": target["UnitID"] if target else None,
                        "Labels": {**change.labels, "target-space": change.space, "target-unit": change.unit},
                        "Annotations": {
                            **change.annotations,
                            "change-set-id": change_set["ChangeSetID"],
                            "change-set-slug": change_set["Slug"],
                            "target-space-id": space["SpaceID"],
                            "target-unit-id": target["UnitID"] if target else "",
                        },
                        "LastChangeDescription": change.description,
                    },
                )
            )
        else:
            unit = self._in_place(space, change_set, target, change, data_b64, mine)
        if change.tags:  # tagging twice changes nothing, so a retry may redo it
            self._tag(unit["SpaceID"], unit["UnitID"], change.tags)
        return ConfigHubChange(
            change_set["ChangeSetID"],
            None,
            mode=self.mode,
            space_id=space["SpaceID"],
            change_set_slug=change_set["Slug"],
            unit_space=change.space + PROPOSALS_SUFFIX if self.mode == SHADOW else change.space,
            unit_space_id=unit["SpaceID"],
            unit_id=unit["UnitID"],
            unit_slug=unit["Slug"],
            revision_num=int(unit.get("HeadRevisionNum") or 0) or None,
        )

    def _in_place(
        self,
        space: dict[str, Any],
        change_set: dict[str, Any],
        target: dict[str, Any] | None,
        change: ChangeRequest,
        data_b64: str,
        mine: str,
    ) -> dict[str, Any]:
        """A new head revision of the target, in the change set; a retry finds the revision already there."""
        cs_id = change_set["ChangeSetID"]
        if target is None:
            existing = self.client.list_units(space["SpaceID"], where=mine)
            if existing:
                return existing[0]
            return self.client.create_unit(
                space["SpaceID"],
                {
                    "Slug": change.unit,
                    "DisplayName": change.unit,
                    "ToolchainType": change.toolchain_type,
                    "Data": data_b64,
                    "Labels": change.labels,
                    "Annotations": change.annotations,
                    "LastChangeDescription": change.description,
                },
                change_set_id=cs_id,
            )
        if any(
            r.get("ChangeSetID") == cs_id and change.labels["proposal-id"] in (r.get("Description") or "")
            for r in self.client.list_revisions(space["SpaceID"], target["UnitID"])
        ):
            return target
        body = {
            **target,
            "Data": data_b64,
            "LastChangeDescription": change.description,
            "Version": change.base_version if change.base_version is not None else target.get("Version"),
        }
        return self.client.update_unit(space["SpaceID"], target["UnitID"], body, change_set_id=cs_id)

    # ---- review ----------------------------------------------------------------------------------
    def review_commands(
        self,
        proposal_id: str,
        space: str,
        unit: str,
        *,
        change_set_id: str | None,
        change_set_slug: str | None,
        mode: str | None,
        unit_space: str | None,
        unit_slug: str | None,
    ) -> list[str]:
        """What a reviewer runs in ConfigHub for this proposal (shared/reference/confighub.md)."""
        change_set = change_set_id or "<change set id, once exported>"
        lines = [
            f"cub changeset list --space {space}",
            f'cub unit list --space {space} --where "ChangeSetID = {quote(change_set)}"',
        ]
        if mode is None or mode == SHADOW:
            shadow_space = unit_space or space + PROPOSALS_SUFFIX
            lines += [
                f'cub unit list --space {shadow_space} --where "Labels.proposal-id = {quote(proposal_id)}"',
                f"cub unit data --space {shadow_space} {unit_slug or '<shadow unit>'}"
                "   # the proposed data; merge it into the target with --change-set "
                + (change_set_slug or f"proposal-{proposal_id}"),
            ]
        lines += [
            f"cub revision list --space {space} {unit}",
            f"cub unit diff --space {space} {unit}",
            f"cub unit approve --space {space} {unit}",
            f"cub unit apply --space {space} {unit}",
            f"# to reject: restore the previous revision with a change description naming {proposal_id}, then `cublab proposals sync`",
        ]
        return lines

    # ---- state sync --------------------------------------------------------------------------------
    def observe(self, space: str, unit: str, change_set_id: str) -> Observation:
        row = self._space_or_raise(space)
        target = self._unit(row["SpaceID"], unit)
        change_sets = [
            c
            for c in self.client.list_change_sets(row["SpaceID"], where=f"ChangeSetID = {quote(change_set_id)}")
            if c.get("ChangeSetID") == change_set_id
        ]
        cs_state = change_sets[0].get("State") if change_sets else None
        if target is None:
            return Observation(False, 0, 0, None, (), (), cs_state)
        revisions = self.client.list_revisions(row["SpaceID"], target["UnitID"])
        mine = [r for r in revisions if r.get("ChangeSetID") == change_set_id]
        proposed = max((int(r["RevisionNum"]) for r in mine), default=None)
        approved: tuple[str, ...] = ()
        later: tuple[tuple[int, str, str], ...] = ()
        if proposed is not None:
            rev = next(r for r in mine if int(r["RevisionNum"]) == proposed)
            names = list(rev.get("ApprovedBy") or [])
            if int(target.get("HeadRevisionNum") or 0) == proposed:
                names += list(target.get("ApprovedBy") or [])
            approved = tuple(dict.fromkeys(str(n) for n in names))
            later = tuple(
                (int(r["RevisionNum"]), str(r.get("UserID") or ""), r.get("Description") or "")
                for r in revisions
                if int(r["RevisionNum"]) > proposed
            )
        return Observation(
            True,
            int(target.get("HeadRevisionNum") or 0),
            int(target.get("LiveRevisionNum") or 0),
            proposed,
            approved,
            later,
            cs_state,
        )


_CONFIGHUB_IS_A_REMOTE_AUTHORITY: type[RemoteAuthority] = ConfigHubAuthority  # checked by mypy: the protocol is met
