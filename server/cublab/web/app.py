"""The console's Starlette app: routes, templates, security headers, and errors as pages.

`build_console(runtime, auth)` returns an ASGI app that `cublab ui` serves alone
and `cublab serve --http --ui` mounts at /ui beside /mcp; it carries its own
auth (web/auth.py), so the MCP endpoint's auth and the console's never mix.
Handlers are plain functions: Starlette runs them in its thread pool, where the
use cases' blocking database calls belong.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from cublab.domain.diff import as_yaml
from cublab.domain.errors import Conflict, CublabError, Forbidden, InvalidInput, NotFound
from cublab.runtime import Runtime
from cublab.web.auth import SESSION_COOKIE, SESSION_SECONDS, ConsoleAuth, Reader, Refused

if TYPE_CHECKING:
    from cublab.web.pages import Pages

HERE = Path(__file__).parent

# No script runs on these pages; styles are the package's own file and the charts' inline SVG styles.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the login URL holds the token: never send it on
    "Cache-Control": "no-store",
}

STATUS = {NotFound: 404, InvalidInput: 400, Conflict: 409, Forbidden: 403}


def templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,  # every template, whatever its name: agent text is data
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["yaml"] = as_yaml
    env.filters["when"] = lambda d: d.strftime("%Y-%m-%d %H:%M:%S") if d else "-"
    env.filters["num"] = lambda x, digits=4: "-" if x is None else f"{x:.{digits}g}"
    return Jinja2Templates(env=env)


class Console:
    """The pages and the decision forms over one runtime; `auth` says who reads."""

    def __init__(self, runtime: Runtime, auth: ConsoleAuth) -> None:
        self.runtime = runtime
        self.auth = auth
        self.templates = templates()
        self.pages: Pages | None = None  # set by pages.routes()

    # ---- rendering ------------------------------------------------------------------------------

    def render(self, request: Request, reader: Reader | None, name: str, status: int = 200, **context: Any) -> Response:
        base = request.scope.get("root_path", "").rstrip("/")
        overdue = self.runtime.breakglass.overdue_warnings() if reader is not None else []
        response = self.templates.TemplateResponse(
            request,
            name,
            {"base": base, "reader": reader, "overdue": overdue, **context},
            status_code=status,
        )
        return self.finish(request, reader, response)

    def finish(self, request: Request, reader: Reader | None, response: Response) -> Response:
        for header, value in SECURITY_HEADERS.items():
            response.headers[header] = value
        if reader is not None and reader.new_cookie is not None:
            self.set_cookie(request, response, reader.new_cookie)
        return response

    @staticmethod
    def set_cookie(request: Request, response: Response, value: str) -> None:
        response.set_cookie(
            SESSION_COOKIE,
            value,
            max_age=SESSION_SECONDS,
            path=(request.scope.get("root_path", "") or "") + "/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )

    def error(self, request: Request, reader: Reader | None, status: int, message: str) -> Response:
        return self.render(request, reader, "error.html", status=status, message=message)

    def page(self, handler: Callable[[Request, Reader], Response]) -> Callable[[Request], Response]:
        """A handler behind the reader check; the use cases' refusals become pages naming the field."""

        def endpoint(request: Request) -> Response:
            try:
                reader = self.auth.reader(request)
            except Refused as refused:
                return self.error(request, None, refused.status, refused.message)
            try:
                return handler(request, reader)
            except Refused as refused:
                return self.error(request, reader, refused.status, refused.message)
            except CublabError as exc:
                status = next((code for kind, code in STATUS.items() if isinstance(exc, kind)), 400)
                return self.error(request, reader, status, str(exc))
            except ValidationError as exc:  # a filter value the use case's input model refuses: name the field
                problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'input'}: {e['msg']}" for e in exc.errors())
                return self.error(request, reader, 400, problems)

        return endpoint

    # ---- login ----------------------------------------------------------------------------------

    def login(self, request: Request) -> Response:
        """Spend the one-time token, set the session cookie, go to the inbox."""
        try:
            cookie = self.auth.log_in(request.query_params.get("token", ""))
        except Refused as refused:
            return self.error(request, None, refused.status, refused.message)
        base = request.scope.get("root_path", "").rstrip("/")
        response = RedirectResponse(f"{base}/", status_code=303)
        self.set_cookie(request, response, cookie)
        return self.finish(request, None, response)


def build_console(runtime: Runtime, auth: ConsoleAuth) -> Starlette:
    from cublab.web import decide, pages

    console = Console(runtime, auth)
    routes = [
        Route("/login", console.login, methods=["GET"], name="login"),
        *pages.routes(console),
        *decide.routes(console),
        Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
    ]

    def not_here(request: Request, exc: Exception) -> Response:
        """An unknown URL or method: the console's own error page, with its security headers."""
        status = getattr(exc, "status_code", 404)
        return console.error(request, None, status, f"nothing at {request.url.path} for {request.method}")

    app = Starlette(routes=routes, exception_handlers={404: not_here, 405: not_here})
    app.state.console = console
    return app
