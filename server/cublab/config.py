"""Where things are and who is acting, from flags and environment.

Flags win over the environment (`CUBLAB_DB`, `CUBLAB_AGENT`, `CUBLAB_POLICY`);
the database defaults to a SQLite file in the user's data directory.

The authority is `embedded` unless `--authority confighub` or
`CUBLAB_AUTHORITY=confighub` chooses ConfigHub, which then needs `CONFIGHUB_URL`
and `CONFIGHUB_TOKEN` (the variables `cub` reads). Proposals land in shadow
mode (`CUBLAB_CONFIGHUB_MODE=shadow`); `in-place` also needs the operator's
confirmation that the target spaces carry an approval trigger
(`--in-place-confirmed-approval-trigger` or
`CUBLAB_CONFIGHUB_IN_PLACE_CONFIRMED=1`), because in-place writes an agent's
revision onto the target's head and only such a trigger stops a plain apply.
"""

from __future__ import annotations

import os
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path


def default_db_path() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("cublab", appauthor=False)) / "cublab.db"


@dataclass(frozen=True)
class Settings:
    db: str
    agent: str
    policy_path: str | None
    authority: str = "embedded"
    confighub_url: str | None = None
    confighub_token: str | None = field(default=None, repr=False)  # never printed
    confighub_mode: str = "shadow"
    confighub_in_place_confirmed: bool = False
    confighub_timeout: float = 10.0
    outbox_interval: float = 60.0  # seconds between the server's outbox flushes

    @classmethod
    def resolve(
        cls,
        db: str | None = None,
        agent: str | None = None,
        policy: str | None = None,
        authority: str | None = None,
        confighub_mode: str | None = None,
        in_place_confirmed: bool | None = None,
    ) -> Settings:
        db = db or os.environ.get("CUBLAB_DB") or str(default_db_path())
        agent = agent or os.environ.get("CUBLAB_AGENT")
        if not agent:
            agent = f"agent:unidentified-{secrets.token_hex(4)}"
            print(f"cublab: no --agent or CUBLAB_AGENT given; acting as {agent}", file=sys.stderr)
        env = os.environ
        settings = cls(
            db=db,
            agent=agent,
            policy_path=policy or env.get("CUBLAB_POLICY"),
            authority=(authority or env.get("CUBLAB_AUTHORITY") or "embedded").strip().lower(),
            confighub_url=env.get("CONFIGHUB_URL") or None,
            confighub_token=env.get("CONFIGHUB_TOKEN") or None,
            confighub_mode=(confighub_mode or env.get("CUBLAB_CONFIGHUB_MODE") or "shadow").strip().lower(),
            confighub_in_place_confirmed=bool(in_place_confirmed)
            or env.get("CUBLAB_CONFIGHUB_IN_PLACE_CONFIRMED", "") in ("1", "true", "yes"),
            confighub_timeout=float(env.get("CUBLAB_CONFIGHUB_TIMEOUT") or 10.0),
            outbox_interval=float(env.get("CUBLAB_OUTBOX_INTERVAL") or 60.0),
        )
        settings.check_authority()
        return settings

    def check_authority(self) -> None:
        """Refuse a half-configured authority at start, not at the first proposal."""
        from cublab.domain.errors import InvalidInput

        if self.authority not in ("embedded", "confighub"):
            raise InvalidInput(
                f"authority: {self.authority!r} is not 'embedded' or 'confighub' (--authority, CUBLAB_AUTHORITY)"
            )
        if self.authority != "confighub":
            return
        missing = [
            name
            for name, value in (("CONFIGHUB_URL", self.confighub_url), ("CONFIGHUB_TOKEN", self.confighub_token))
            if not value
        ]
        if missing:
            raise InvalidInput(
                f"authority: confighub needs {' and '.join(missing)} in the environment (the hub's URL, e.g. "
                "https://hub.confighub.com, and a token from `cub auth get-token`)"
            )
        if self.confighub_mode not in ("shadow", "in-place"):
            raise InvalidInput(
                f"authority: CUBLAB_CONFIGHUB_MODE={self.confighub_mode!r} is not 'shadow' or 'in-place'"
            )
        if self.confighub_mode == "in-place" and not self.confighub_in_place_confirmed:
            raise InvalidInput(
                "authority: in-place mode writes agent revisions onto the target unit's head; it is refused unless you "
                "confirm every target space has an approval trigger (vet-approvedby): pass "
                "--in-place-confirmed-approval-trigger or set CUBLAB_CONFIGHUB_IN_PLACE_CONFIRMED=1"
            )

    def confighub_credentials(self) -> tuple[str, str]:
        """The hub's URL and token, once the settings are known to be complete."""
        from cublab.domain.errors import InvalidInput

        self.check_authority()
        url, token = self.confighub_url, self.confighub_token
        if self.authority != "confighub" or not url or not token:
            raise InvalidInput("authority: ConfigHub is not the configured authority (--authority, CUBLAB_AUTHORITY)")
        return url, token
