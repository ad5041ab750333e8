"""The application, assembled once per process and on first use.

Importing SQLAlchemy and checking the schema costs more than the MCP SDK's own
start-up, so the server answers `tools/list` before any of it happens; the
first tool call builds the application.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from cublab.config import Settings
from cublab.domain.identity import Identity, agent_identity

if TYPE_CHECKING:
    from cublab.app.audit import Audit
    from cublab.app.batches import Batches
    from cublab.app.breakglass import BreakGlass
    from cublab.app.bypass import BypassService
    from cublab.app.context import AppContext
    from cublab.app.experiment_reads import ExperimentReads
    from cublab.app.experiments import Experiments
    from cublab.app.guard import GuardService
    from cublab.app.idempotency import Idempotency
    from cublab.app.outbox import Outbox
    from cublab.app.ownership import Ownership
    from cublab.app.promotion import Promotion
    from cublab.app.proposals import Proposals
    from cublab.app.quotas import Quotas
    from cublab.app.review import Review
    from cublab.app.reviewers import Reviewers
    from cublab.app.revisions import Revisions
    from cublab.app.sandboxes import Sandboxes
    from cublab.app.sync import ProposalSync
    from cublab.app.tokens import Tokens
    from cublab.authority.base import RemoteAuthority
    from cublab.policies import LoadedPolicy
    from cublab.store.audit_key import AuditKey, Witness


class Runtime:
    def __init__(
        self, settings: Settings, policy: LoadedPolicy | None = None, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.settings = settings
        self._clock = clock
        self.agent: Identity = agent_identity(settings.agent, "agent")  # refuses human: identities
        self._policy = policy
        self._lock = threading.Lock()
        self._ctx: AppContext | None = None
        self._on_loop: Runtime | None = None

    @property
    def policy(self) -> LoadedPolicy:
        if self._policy is None:
            from cublab.policies import load_policy

            self._policy = load_policy(self.settings.policy_path)
        return self._policy

    @property
    def ctx(self) -> AppContext:
        with self._lock:
            if self._ctx is None:
                from cublab.app.context import AppContext
                from cublab.app.guards import refuse_secret_identity
                from cublab.store.db import Database

                refuse_secret_identity(self.settings.agent, "agent")  # checked here, off the start-up path

                db = Database(self.settings.db)
                db.migrate()
                key, witness = self._audit_key(db.location)
                self._ctx = AppContext(
                    db=db, policy=self.policy, remote=self._remote_authority(), audit_key=key, witness=witness
                )
                if self.settings.allowed_signers:
                    self._ctx.allowed_signers = Path(self.settings.allowed_signers)
                if self._clock is not None:
                    self._ctx.clock = self._clock
                if db.is_sqlite:
                    self._on_loop = self._reading(self._ctx)
            return self._ctx

    @property
    def on_loop(self) -> Runtime | None:
        """The use cases over reads that never wait (SQLite in WAL mode: `Database.reader`), for the event loop;
        None until the first call has built the application (that may migrate: a worker thread's job), and on
        PostgreSQL, where every read is a network round trip that may wait and stays on a worker thread."""
        return self._on_loop

    def _reading(self, ctx: AppContext) -> Runtime:
        """A runtime sharing this one's settings, policy and clock, reading through `ctx.db.reader()`.

        Its use cases are built here, on the thread that built the application, so the loop never constructs
        one. Directly, not through their cached properties: this runs under `_lock`, and on Python 3.11 a
        cached property takes a lock of its own, which a thread waiting for `_lock` may hold.
        """
        import dataclasses

        from cublab.app.experiments import Experiments
        from cublab.app.sandboxes import Sandboxes

        reading = Runtime(self.settings, ctx.policy, self._clock)
        reading._ctx = dataclasses.replace(ctx, db=ctx.db.reader())
        sandboxes = Sandboxes(reading._ctx)
        reading.__dict__.update(sandboxes=sandboxes, experiments=Experiments(reading._ctx, sandboxes))
        return reading

    def _audit_key(self, location: str) -> tuple[AuditKey, Witness]:
        """The audit key (created, 0600, on first use) and this database's witness: docs/threat-model.md."""
        from pathlib import Path

        from cublab.store.audit_key import Witness, default_witness_path, load_key

        key_file = Path(self.settings.audit_key_file).expanduser() if self.settings.audit_key_file else None
        key = load_key(key_file)
        assert key is not None  # load_key creates the key when it is absent
        witness = (
            Path(self.settings.audit_witness).expanduser()
            if self.settings.audit_witness
            else default_witness_path(location, key_file)
        )
        return key, Witness(witness)

    def _remote_authority(self) -> RemoteAuthority | None:
        """ConfigHub when the settings choose it (checked complete by Settings.check_authority)."""
        if self.settings.authority != "confighub":
            return None
        from cublab.authority.confighub import ConfigHubAuthority, ConfigHubClient

        url, token = self.settings.confighub_credentials()
        client = ConfigHubClient(
            url,
            token,
            timeout=self.settings.confighub_timeout,
            connect_timeout=min(3.0, self.settings.confighub_timeout),
        )
        return ConfigHubAuthority(
            client, mode=self.settings.confighub_mode, in_place_confirmed=self.settings.confighub_in_place_confirmed
        )

    def warm_up(self) -> None:
        """Build the application now (SQLAlchemy, the schema, the audit key, the secret detector's plugins) so
        the first tool call finds it built. `cublab serve` runs this on a daemon thread once the server is
        built: it overlaps the protocol's handshake instead of following it. A failure is left for the first
        tool call to meet again and report."""
        import logging

        try:
            _ = self.ctx, self.sandboxes, self.experiments
        except Exception:
            logging.getLogger("cublab.runtime").debug("warm-up failed; the first tool call will say why", exc_info=True)

    def start_outbox_flusher(self, interval: float | None = None) -> Callable[[], None]:
        """Flush the outbox every `interval` seconds in a daemon thread (remote authority only); returns stop()."""
        import logging

        stop = threading.Event()
        if self.settings.authority == "embedded":
            return stop.set
        every = interval if interval is not None else self.settings.outbox_interval

        def loop() -> None:
            while not stop.wait(every):
                try:
                    self.outbox.flush()
                except Exception:  # a failed flush must not end the loop; the next one retries
                    logging.getLogger("cublab.outbox").exception("cublab: outbox flush failed")

        threading.Thread(target=loop, name="cublab-outbox", daemon=True).start()
        return stop.set

    # ---- the use cases ---------------------------------------------------------------------------

    @cached_property
    def sandboxes(self) -> Sandboxes:
        from cublab.app.sandboxes import Sandboxes

        return Sandboxes(self.ctx)

    @cached_property
    def experiments(self) -> Experiments:
        from cublab.app.experiments import Experiments

        return Experiments(self.ctx, self.sandboxes)

    @cached_property
    def experiment_reads(self) -> ExperimentReads:
        """Experiments as reviewers read them: listed with filters, in full, sampled for charts, exported."""
        from cublab.app.experiment_reads import ExperimentReads

        return ExperimentReads(self.ctx, self.experiments)

    @cached_property
    def revisions(self) -> Revisions:
        """The embedded authority's revisions with the humans who approved and applied each."""
        from cublab.app.revisions import Revisions

        return Revisions(self.ctx)

    @cached_property
    def batches(self) -> Batches:
        from cublab.app.batches import Batches

        return Batches(self.ctx)

    @cached_property
    def idempotency(self) -> Idempotency:
        from cublab.app.idempotency import Idempotency

        return Idempotency(self.ctx)

    @cached_property
    def proposals(self) -> Proposals:
        from cublab.app.proposals import Proposals

        return Proposals(self.ctx)

    @cached_property
    def promotion(self) -> Promotion:
        from cublab.app.promotion import Promotion

        return Promotion(self.ctx, self.sandboxes, self.experiments, self.proposals)

    @cached_property
    def review(self) -> Review:
        from cublab.app.review import Review

        return Review(self.ctx)

    @cached_property
    def ownership(self) -> Ownership:
        from cublab.app.ownership import Ownership

        return Ownership(self.ctx)

    @cached_property
    def reviewers(self) -> Reviewers:
        from cublab.app.reviewers import Reviewers

        return Reviewers(self.ctx)

    @cached_property
    def breakglass(self) -> BreakGlass:
        from cublab.app.breakglass import BreakGlass

        return BreakGlass(self.ctx)

    @cached_property
    def bypass(self) -> BypassService:
        from cublab.app.bypass import BypassService

        return BypassService(self.ctx, lambda session: self.breakglass.overdue_warnings(session))  # loads on first use

    @cached_property
    def guard(self) -> GuardService:
        from cublab.app.guard import GuardService

        return GuardService(self.ctx, self.bypass)

    @cached_property
    def outbox(self) -> Outbox:
        from cublab.app.outbox import Outbox

        return Outbox(self.ctx)

    @cached_property
    def proposal_sync(self) -> ProposalSync:
        from cublab.app.sync import ProposalSync

        return ProposalSync(self.ctx)

    @cached_property
    def quotas(self) -> Quotas:
        from cublab.app.quotas import Quotas

        return Quotas(self.ctx)

    @cached_property
    def tokens(self) -> Tokens:
        from cublab.app.tokens import Tokens

        return Tokens(self.ctx)

    @cached_property
    def audit(self) -> Audit:
        from cublab.app.audit import Audit

        return Audit(self.ctx)

    def close(self) -> None:
        if self._on_loop is not None:
            self._on_loop.ctx.db.dispose()  # the rest of its context (the authority client) is this one's
        if self._ctx is not None:
            if self._ctx.remote is not None:
                self._ctx.remote.close()
            self._ctx.db.dispose()
