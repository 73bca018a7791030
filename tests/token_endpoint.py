"""A loopback OAuth token endpoint (RFC 6749 refresh_token grant) a test can script: it gives
`access_token` for the one refresh token and client it knows, and counts what it was asked."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


class TokenEndpoint:
    def __init__(self, *, client_id: str, client_secret: str, refresh_token: str, token: str):
        self.client = (client_id, client_secret)
        self.refresh_token = refresh_token
        self.token = token
        self.requests: list[dict[str, str]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                endpoint.requests.append(form)
                good = (
                    form.get("grant_type") == "refresh_token"
                    and (form.get("client_id"), form.get("client_secret")) == endpoint.client
                    and form.get("refresh_token") == endpoint.refresh_token
                )
                answer = (
                    {"access_token": endpoint.token, "expires_in": 3599, "token_type": "Bearer"}
                    if good
                    else {"error": "invalid_grant", "error_description": "Bad Request"}
                )
                body = json.dumps(answer).encode()
                self.send_response(200 if good else 400)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/token"

    def __enter__(self) -> TokenEndpoint:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
