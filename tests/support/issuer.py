"""A local OAuth 2.1 authorization server for tests: its metadata and JWKS over HTTP, and JWTs signed with its key.

Just enough of an issuer for a resource server to verify its access tokens: RFC 8414 metadata at
`/.well-known/oauth-authorization-server` naming a `jwks_uri`, and the public key there. Tokens are
made directly (no grant flow): the resource server only ever sees the token.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm


@dataclass
class Issuer:
    url: str
    key: rsa.RSAPrivateKey
    kid: str = "test-key-1"

    def token(
        self, audience: str, *, lifetime: float = 300, key: rsa.RSAPrivateKey | None = None, **claims: Any
    ) -> str:
        now = int(time.time())
        body = {"iss": self.url, "aud": audience, "iat": now, "exp": now + int(lifetime), **claims}
        return jwt.encode(body, key or self.key, algorithm="RS256", headers={"kid": self.kid})


@contextmanager
def local_issuer() -> Iterator[Issuer]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    state: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            documents = {
                "/.well-known/oauth-authorization-server": {
                    "issuer": state["url"],
                    "jwks_uri": state["url"] + "/jwks.json",
                    "authorization_endpoint": state["url"] + "/authorize",
                    "token_endpoint": state["url"] + "/token",
                    "response_types_supported": ["code"],
                },
                "/jwks.json": {"keys": [{**jwk, "kid": "test-key-1", "use": "sig", "alg": "RS256"}]},
            }
            document = documents.get(self.path)
            body = json.dumps(document or {"error": "not found"}).encode()
            self.send_response(200 if document else 404)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Issuer(state["url"], key)
    finally:
        server.shutdown()
        server.server_close()
