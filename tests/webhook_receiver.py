"""A real HTTP receiver of webhooks on a loopback port, as a customer's program would run one:
it verifies every request's signature with `standardwebhooks` and records the events it
accepted, in the order they came. A test can take it down (not listening), make it answer 503,
or make it answer a redirect."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tests.smtp_server import free_port


@dataclass(frozen=True)
class Event:
    webhook_id: str
    type: str
    data: dict[str, Any]
    headers: dict[str, str]


@dataclass
class WebhookReceiver:
    secret: str = ""
    port: int = field(default_factory=free_port)
    answer: int = 204  # what it answers a verified request (503: "down for maintenance")
    redirect_to: str = ""
    events: list[Event] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # why unverifiable requests were refused
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/email"

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(min(length, 1_000_000))
                receiver.handle(self, body)

            def log_message(self, *_: Any) -> None:  # keep the test output quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening: connections are refused until `start` again (same port)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def handle(self, request: BaseHTTPRequestHandler, body: bytes) -> None:
        headers = {name.lower(): value for name, value in request.headers.items()}
        with self.lock:
            self.requests += 1
            if self.redirect_to:
                self._reply(request, 302, b"", {"Location": self.redirect_to})
                return
            if self.answer >= 300:
                self._reply(request, self.answer, b"down for maintenance")
                return
            try:
                payload = Webhook(self.secret).verify(body, headers)
            except WebhookVerificationError as error:
                self.rejected.append(str(error))
                self._reply(request, 401, b"bad signature")
                return
            self.events.append(
                Event(headers["webhook-id"], payload["type"], payload["data"], headers)
            )
        self._reply(request, self.answer, b"")

    @staticmethod
    def _reply(
        request: BaseHTTPRequestHandler,
        code: int,
        body: bytes,
        headers: dict[str, str] | None = None,
    ) -> None:
        request.send_response(code)
        for name, value in (headers or {}).items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    def of_campaign(self, campaign_id: int) -> list[Event]:
        with self.lock:
            return [e for e in self.events if e.data.get("campaign_id") == campaign_id]


def as_json(event: Event) -> str:
    return json.dumps({"type": event.type, "data": event.data}, sort_keys=True)
