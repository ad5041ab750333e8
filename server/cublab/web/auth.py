"""Who is reading the console, and whether a form really comes from its own page.

Two modes, chosen at start:

- local (the Jupyter convention): `cublab ui` prints a URL holding a one-time
  login token; visiting it spends the token and sets a signed, HttpOnly,
  SameSite=Strict session cookie. The reader is the human given by `--as`
  (default: the OS user), fixed for the process.
- proxy: a team's authenticating reverse proxy (oauth2-proxy and the like) names
  the reader in a header (`--trusted-user-header X-Forwarded-User`); the header
  is believed only on connections from the listed proxy addresses
  (`--trusted-proxy`). Anyone else is refused before any page is read.

Either way the name is folded and checked like the CLI's `--as`: a `human:`
identity or nothing, never an agent, never a literal secret. The session
cookie's id keys a CSRF token (an HMAC under a key made fresh for each process)
that every form carries and every POST must return; compared in constant time.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import threading
from dataclasses import dataclass
from hashlib import sha256

from itsdangerous import BadSignature, TimestampSigner
from starlette.requests import Request

from cublab.app.guards import refuse_secret_identity
from cublab.domain.errors import CublabError
from cublab.domain.identity import Identity, human_identity

SESSION_COOKIE = "cublab_console"
SESSION_SECONDS = 12 * 3600  # a working day; then log in again (restart for a new token, or the proxy re-asserts)


class Refused(Exception):
    """The request may not go on: `status` and a message the page shows (never the token or the cookie)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def reader_identity(raw: str, field: str) -> Identity:
    """A human identity from `--as` or a proxy's header: folded and checked as the CLI checks `--as`."""
    text = (raw or "").strip()
    if text and ":" not in text:
        text = f"human:{text}"  # a proxy names the person (alice@example.com); the console decides as human:<name>
    try:
        refuse_secret_identity(text, field)
        return human_identity(text, field)
    except CublabError as exc:
        raise Refused(403, str(exc)) from None


@dataclass(frozen=True)
class Reader:
    """The person behind a request, and the session their forms are bound to."""

    who: Identity
    session_id: str
    csrf: str
    new_cookie: str | None = None  # set on the response when the session was made by this request (proxy mode)
    account: str | None = None  # what vouches for the person, when not this process's OS account (proxy mode)


class ConsoleAuth:
    """Local login (one-time token) or a trusted proxy's header; CSRF tokens for both."""

    def __init__(
        self,
        *,
        who: Identity | None = None,
        user_header: str | None = None,
        trusted_proxies: list[str] | tuple[str, ...] = (),
    ) -> None:
        if (who is None) == (user_header is None):
            raise ValueError("ConsoleAuth: exactly one of a local reader (who) or a proxy header (user_header)")
        if user_header is not None and not trusted_proxies:
            raise ValueError("--trusted-proxy: a trusted user header needs the proxy addresses it may come from")
        self.who = who
        self.user_header = user_header.lower() if user_header else None
        try:
            self.proxies = tuple(ipaddress.ip_network(p.strip(), strict=False) for p in trusted_proxies)
        except ValueError as exc:
            raise ValueError(f"--trusted-proxy: {exc}") from None
        self._key = secrets.token_bytes(32)
        self._signer = TimestampSigner(self._key, salt="cublab-console-session")
        self._token: str | None = secrets.token_urlsafe(32) if who is not None else None
        self._lock = threading.Lock()

    @property
    def proxy_mode(self) -> bool:
        return self.user_header is not None

    @property
    def login_token(self) -> str | None:
        """The one-time token of local mode (printed once at start); None once spent, and in proxy mode."""
        return self._token

    # ---- sessions -------------------------------------------------------------------------------

    def csrf_for(self, session_id: str) -> str:
        return hmac.new(self._key, b"csrf:" + session_id.encode(), sha256).hexdigest()

    def _cookie(self, session_id: str, who: Identity) -> str:
        return self._signer.sign(f"{session_id}|{who.value}").decode()

    def _session(self, request: Request) -> tuple[str, str] | None:
        raw = request.cookies.get(SESSION_COOKIE)
        if not raw:
            return None
        try:
            value = self._signer.unsign(raw, max_age=SESSION_SECONDS).decode()
        except (BadSignature, UnicodeDecodeError):
            return None
        session_id, _, who = value.partition("|")
        return (session_id, who) if session_id and who else None

    def log_in(self, token: str) -> str:
        """Spend the one-time token; the session cookie's value. Refused for a wrong or spent token."""
        if self.who is None:
            raise Refused(404, "this console takes its reader from the reverse proxy; there is no token login")
        with self._lock:
            expected = self._token
            if expected is None:
                raise Refused(
                    403, "the login token was already used; restart `cublab ui` for a new one (it prints the URL)"
                )
            if not hmac.compare_digest(token.encode(), expected.encode()):
                raise Refused(403, "wrong login token: use the URL `cublab ui` printed when it started")
            self._token = None
        return self._cookie(secrets.token_urlsafe(24), self.who)

    # ---- the reader of a request ----------------------------------------------------------------

    def reader(self, request: Request) -> Reader:
        """Who sent this request, or Refused (401 without a session, 403 from an untrusted address)."""
        if self.user_header is None:
            assert self.who is not None
            session = self._session(request)
            if session is None or session[1] != self.who.value:
                raise Refused(
                    401, "not logged in: open the login URL `cublab ui` printed when it started (the token works once)"
                )
            return Reader(self.who, session[0], self.csrf_for(session[0]))
        peer = request.client.host if request.client else ""
        if not self._trusted(peer):
            raise Refused(403, f"this console takes its reader from a trusted proxy; {peer or 'this peer'} is not one")
        names = request.headers.getlist(self.user_header)
        if len(names) != 1 or not names[0].strip():
            raise Refused(401, f"the proxy did not name exactly one user in {self.user_header}")
        who = reader_identity(names[0], self.user_header)
        account = f"proxy:{who.value}"  # the proxy authenticated this person: one account per person it names
        session = self._session(request)
        if session is not None and session[1] == who.value:
            return Reader(who, session[0], self.csrf_for(session[0]), account=account)
        session_id = secrets.token_urlsafe(24)
        return Reader(
            who, session_id, self.csrf_for(session_id), new_cookie=self._cookie(session_id, who), account=account
        )

    def _trusted(self, peer: str) -> bool:
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self.proxies)

    def check_csrf(self, reader: Reader, sent: str | None) -> None:
        """A POST must return the token of its session's page; a new session (no cookie yet) has none to return."""
        if reader.new_cookie is not None or not sent or not hmac.compare_digest(sent.encode(), reader.csrf.encode()):
            raise Refused(403, "this form is missing its CSRF token or carries another session's; reload the page")
