"""A fake Anthropic Messages API on 127.0.0.1 that speaks the real wire format.

``POST /v1/messages`` answers with what the test scripted, in order: a message with content
blocks (``tool_use``, ``text``), a ``stop_reason`` and ``usage``; or an error body
``{"type": "error", "error": {"type": ..., "message": ...}, "request_id": ...}`` with its status
code. Every response carries a ``request-id`` header. Requests the API would reject (no key, no
``anthropic-version``, a body without model / max_tokens / messages) get the API's 401/400
errors, and a request the script has no reply for gets a 500 that names the problem, so a test
that calls more often than it meant to fails loudly. Every request is recorded.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

TOOL_NAME = "submit_review"
_ids = itertools.count(1)


@dataclass(frozen=True)
class Reply:
    """One scripted HTTP response; ``delay_s`` holds it back (to make the client time out)."""

    status: int
    body: dict[str, Any] | bytes  # bytes go out as they are (a broken body)
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass(frozen=True)
class Recorded:
    path: str
    headers: dict[str, str]  # lower-case names
    body: dict[str, Any]


def message(
    content: list[dict[str, Any]],
    *,
    stop_reason: str,
    input_tokens: int = 1200,
    output_tokens: int = 150,
    delay_s: float = 0.0,
) -> Reply:
    """A 200 with a Messages API ``message`` object (``model`` is filled from the request)."""
    return Reply(200, {
        "id": f"msg_fake{next(_ids):06d}",
        "type": "message",
        "role": "assistant",
        "model": None,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens,
                  "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
    }, delay_s=delay_s)


def tool_use(tool_input: Any, *, name: str = TOOL_NAME) -> dict[str, Any]:
    return {"type": "tool_use", "id": f"toolu_fake{next(_ids):06d}", "name": name,
            "input": tool_input}


def verdict(
    outcome: str,
    *,
    reasons: tuple[str, ...] = ("looks fine",),
    risk_flags: tuple[str, ...] = (),
    confidence: float = 0.8,
    **kwargs: Any,
) -> Reply:
    """The model calls the review tool with a well-formed verdict."""
    tool_input = {"outcome": outcome, "reasons": list(reasons), "risk_flags": list(risk_flags),
                  "confidence": confidence}
    return message([tool_use(tool_input)], stop_reason="tool_use", **kwargs)


def refusal(**kwargs: Any) -> Reply:
    return message([{"type": "text", "text": "I can't help with that."}],
                   stop_reason="refusal", **kwargs)


def error(status: int, kind: str, text: str, *, headers: dict[str, str] | None = None,
          delay_s: float = 0.0) -> Reply:
    """An API error: 429 rate_limit_error, 500 api_error, 529 overloaded_error, ..."""
    return Reply(status, {"type": "error", "error": {"type": kind, "message": text}},
                 headers=headers or {}, delay_s=delay_s)


class FakeAnthropic:
    """The fake API; use as a context manager, script with ``push``, read ``requests``."""

    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.otherwise: Reply | None = None
        """The reply once the scripted ones are used up; None answers 500 (see the docstring)."""
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def push(self, *replies: Reply) -> FakeAnthropic:
        with self._lock:
            self.replies.extend(replies)
        return self

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _next(self, recorded: Recorded) -> Reply:
        with self._lock:
            self.requests.append(recorded)
            if self.replies:
                return self.replies.popleft()
            if self.otherwise is not None:
                return self.otherwise
        return error(500, "api_error", "the fake has no scripted reply for this request")


def _handler(fake: FakeAnthropic) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length)
            headers = {name.lower(): value for name, value in self.headers.items()}
            if self.path.split("?")[0] != "/v1/messages":
                return self._send(error(404, "not_found_error", f"Not found: {self.path}"))
            bearer = headers.get("authorization", "").startswith("Bearer ")
            if not (headers.get("x-api-key") or bearer):
                return self._send(error(401, "authentication_error",
                                        "x-api-key header is required"))
            if not headers.get("anthropic-version"):
                return self._send(error(400, "invalid_request_error",
                                        "anthropic-version header is required"))
            try:
                body = json.loads(raw)
            except json.JSONDecodeError:
                return self._send(error(400, "invalid_request_error", "body is not valid JSON"))
            missing = [k for k in ("model", "max_tokens", "messages") if k not in body]
            if missing:
                return self._send(error(400, "invalid_request_error",
                                        f"{missing[0]}: Field required"))
            reply = fake._next(Recorded(self.path, headers, body))
            if isinstance(reply.body, dict) and reply.body.get("type") == "message":
                reply = Reply(200, {**reply.body, "model": body["model"]}, reply.headers,
                              reply.delay_s)
            self._send(reply)

        def _send(self, reply: Reply) -> None:
            if reply.delay_s:
                time.sleep(reply.delay_s)
            request_id = f"req_fake{next(_ids):06d}"
            if isinstance(reply.body, bytes):
                data = reply.body
            else:
                body = dict(reply.body)
                if body.get("type") == "error":
                    body["request_id"] = request_id
                data = json.dumps(body).encode("utf-8")
            try:
                self.send_response(reply.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.send_header("request-id", request_id)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except OSError:  # the client gave up (timed out) and closed the connection
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
