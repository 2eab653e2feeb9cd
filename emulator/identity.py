"""A stand-in for the App Service managed identity endpoint, on loopback, for azure-identity's real code.

azure-identity's ManagedIdentityCredential (and so DefaultAzureCredential) asks the endpoint named by
`IDENTITY_ENDPOINT` for a token with `GET ?api-version=2019-08-01&resource=<resource>`, sending the
secret from `IDENTITY_HEADER` as `X-IDENTITY-HEADER`, and reads `access_token` and `expires_on`. This
server answers that with an unsigned JWT (see `eventhubs.jwt.make_unsigned_jwt`): what the emulator's
Entra ID mode accepts. It never touches the instance metadata address.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from eventhubs.jwt import make_unsigned_jwt

# Variables that would make DefaultAzureCredential pick another credential before managed identity.
OTHER_IDENTITY_VARS = (
    "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_USERNAME", "AZURE_PASSWORD", "AZURE_FEDERATED_TOKEN_FILE", "MSI_ENDPOINT", "MSI_SECRET",
    "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT", "AZURE_TOKEN_CREDENTIALS",
)  # fmt: skip


class ManagedIdentityEndpoint:
    """Serves tokens on 127.0.0.1; `roles` (None: no roles claim) and `lifetime_s` shape the next ones."""

    def __init__(self, *, roles: list[str] | None = None, lifetime_s: int = 3600) -> None:
        self.roles = roles
        self.lifetime_s = lifetime_s
        self.secret = secrets.token_hex(16)
        self.requests: list[dict[str, list[str]]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                if self.headers.get("X-IDENTITY-HEADER") != endpoint.secret:
                    self._answer(401, {"error": "invalid X-IDENTITY-HEADER"})
                    return
                endpoint.requests.append(query)
                resource = query.get("resource", [""])[0]
                self._answer(200, endpoint.token_response(resource))

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/msi/token"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def token_response(self, resource: str) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            # Entra writes the resource without its trailing '/' into aud for v1 tokens.
            "aud": resource.rstrip("/"),
            "iss": "https://sts.windows.net/00000000-0000-0000-0000-000000000000/",
            "iat": now,
            "nbf": now,
            "exp": now + self.lifetime_s,
            "oid": "11111111-2222-3333-4444-555555555555",
            "sub": "11111111-2222-3333-4444-555555555555",
        }
        if self.roles is not None:
            claims["roles"] = self.roles
        return {
            "access_token": make_unsigned_jwt(claims),
            "expires_on": str(now + self.lifetime_s),
            "resource": resource,
            "token_type": "Bearer",
        }

    def __enter__(self) -> ManagedIdentityEndpoint:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
