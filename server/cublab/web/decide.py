"""The decision forms: approve, acknowledge, reject, apply, through the same `Review` use case as the CLI.

Nothing is decided here. The reader's identity comes from web/auth.py (a human
or nothing); the form's CSRF token must match its session; then the use case
applies every rule the CLI's `cublab proposals approve|ack|reject|apply` does:
human identity only, the proposer never counts, one vote per person, the base
revision must still be the head, and signed tiers refuse an unsigned decision
(the page shows the `--sign-with` command instead of a form).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING
from urllib.parse import quote

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from cublab.domain.errors import CublabError
from cublab.web.auth import SESSION_COOKIE, Reader, Refused

if TYPE_CHECKING:
    from cublab.web.app import Console

ACTIONS = ("approve", "acknowledge", "reject", "apply")
MAX_FORM_BYTES = 16_384  # a reason and a token; anything bigger is not one of our forms


def routes(console: Console) -> list[Route]:
    return [
        Route("/proposals/{proposal_id}/{action}", _decide(console), methods=["POST"], name="decide"),
        Route("/logout", _logout(console), methods=["POST"], name="logout"),
    ]


def _logout(console: Console) -> Callable[[Request], Awaitable[Response]]:
    """Forget this browser's session (the cookie); a CSRF token is required so no other site can log you out."""

    async def endpoint(request: Request) -> Response:
        try:
            reader = console.auth.reader(request)
            async with request.form(max_files=0, max_fields=4) as form:
                token = form.get("csrf")
            console.auth.check_csrf(reader, token if isinstance(token, str) else None)
        except Refused as refused:
            return console.error(request, None, refused.status, refused.message)
        response = Response("logged out; open the login URL again to come back", media_type="text/plain")
        response.delete_cookie(SESSION_COOKIE, path=(request.scope.get("root_path", "") or "") + "/")
        return console.finish(request, None, response)

    return endpoint


def _decide(console: Console) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            reader = console.auth.reader(request)
        except Refused as refused:
            return console.error(request, None, refused.status, refused.message)
        try:
            action = request.path_params["action"]
            if action not in ACTIONS:
                raise Refused(404, f"no decision {action!r}; one of {', '.join(ACTIONS)}")
            if int(request.headers.get("content-length") or 0) > MAX_FORM_BYTES:
                raise Refused(413, f"the form is larger than {MAX_FORM_BYTES} bytes")
            async with request.form(max_files=0, max_fields=8) as form:
                token, reason = form.get("csrf"), form.get("reason", "")
            console.auth.check_csrf(reader, token if isinstance(token, str) else None)
            text = reason if isinstance(reason, str) else ""
            proposal_id = request.path_params["proposal_id"]
            await anyio.to_thread.run_sync(_run, console, action, proposal_id, reader, text)
        except Refused as refused:
            return console.error(request, reader, refused.status, refused.message)
        except CublabError as exc:
            from cublab.web.app import STATUS

            status = next((code for kind, code in STATUS.items() if isinstance(exc, kind)), 400)
            return console.error(request, reader, status, str(exc))
        base = request.scope.get("root_path", "").rstrip("/")
        # Only the action's name travels in the URL: the page states the outcome from the proposal itself, so a
        # crafted link cannot put words on it.
        response = RedirectResponse(f"{base}/proposals/{quote(proposal_id)}?done={action}#decide", status_code=303)
        return console.finish(request, reader, response)

    return endpoint


def _run(console: Console, action: str, proposal_id: str, reader: Reader, reason: str) -> None:
    """The decision through the use case; its outcome is read back from the proposal by the page."""
    review = console.runtime.review
    if action == "apply":
        review.apply(proposal_id, reader.who, reason, account=reader.account)
        return
    decide = {"approve": review.approve, "acknowledge": review.acknowledge, "reject": review.reject}[action]
    decide(proposal_id, reader.who, reason, account=reader.account)
