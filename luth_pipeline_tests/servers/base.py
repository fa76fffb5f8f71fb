"""A threaded loopback HTTP server with scripted replies and fault injection.

Replies are decided per request, in this order:
1. a queued fault (`inject(...)`, `fail_next(...)`, `garbage_next(...)`) — consumed first-in
   first-out;
2. `reply_fn(request)` — the test's script: returns a `Completion` (rendered in the server's
   protocol), a plain `str` (a completion with finish reason "stop"), or a raw `Reply`;
3. the server's default: an echo of the last user message.
With `enforce_max_tokens`, a completion longer than the request's token budget (counted in
whitespace-separated words) is cut there and reported as a real server does: finish reason
"length" (OpenAI) / "MAX_TOKENS" (Gemini).
`latency_s` is added to every reply (a float, or a callable of the request).
"""

from __future__ import annotations

import collections
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Completion:
    """A successful model answer; each protocol renders it in its own JSON shape."""

    text: str
    finish_reason: str = "stop"  # "stop" or "length" (Gemini: STOP / MAX_TOKENS)
    prompt_tokens: int | None = None  # None: counted as whitespace-separated words
    completion_tokens: int | None = None


@dataclass
class Reply:
    """A raw HTTP reply: an error status, a malformed body, or a request that never answers."""

    status: int = 200
    json: Any = None
    body: bytes | None = None  # raw bytes win over `json` (use it for malformed bodies)
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    hang: bool = False  # hold the connection open `hang_s` seconds: the client's timeout fires


@dataclass
class RecordedRequest:
    index: int
    method: str
    path: str
    headers: dict[str, str]
    raw: bytes
    json: Any
    received_at: float  # time.monotonic()
    prompt: str = ""  # last user message text, filled by the protocol

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


ReplyFn = Callable[[RecordedRequest], "Completion | str | Reply"]


class LoopbackServer:
    """Base class: subclasses implement `route`, `parse_prompt` and `render_completion`."""

    def __init__(
        self,
        reply_fn: ReplyFn | None = None,
        latency_s: float | Callable[[RecordedRequest], float] = 0.0,
        hang_s: float = 30.0,
        enforce_max_tokens: bool = False,
    ):
        self.reply_fn = reply_fn
        self.enforce_max_tokens = enforce_max_tokens
        self.latency_s = latency_s
        self.hang_s = hang_s
        self.requests: list[RecordedRequest] = []
        self.max_in_flight = 0
        self._in_flight = 0
        self._faults: collections.deque[Reply | Completion] = collections.deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- protocol hooks -------------------------------------------------------------------
    def route(self, method: str, path: str) -> bool:
        raise NotImplementedError

    def parse_prompt(self, request: RecordedRequest) -> str:
        raise NotImplementedError

    def render_completion(self, request: RecordedRequest, completion: Completion) -> Reply:
        raise NotImplementedError

    def max_tokens_of(self, request: RecordedRequest) -> int | None:
        """The completion budget the client asked for (None: not given)."""
        raise NotImplementedError

    def render_error(self, status: int, message: str) -> Reply:
        return Reply(status=status, json={"error": {"code": status, "message": message}})

    # ---- test controls --------------------------------------------------------------------
    def inject(self, *faults: Reply | int) -> None:
        """Queue replies for the next requests: an int is an error status with a JSON body."""
        with self._lock:
            for fault in faults:
                self._faults.append(self.render_error(fault, f"injected {fault}") if isinstance(fault, int) else fault)

    def fail_next(self, n: int, status: int = 429) -> None:
        self.inject(*[status] * n)

    def timeout_next(self, n: int = 1) -> None:
        self.inject(*[Reply(hang=True) for _ in range(n)])

    def malformed_next(self, n: int = 1, body: bytes = b'{"choices": [ this is not json') -> None:
        """A body the SDK cannot read (a broken proxy): a transport-level failure."""
        self.inject(*[Reply(status=200, body=body, headers={"Content-Type": "application/json"}) for _ in range(n)])

    def garbage_next(self, n: int = 1, text: str = "{'réponse': 4,, ]]} <|im_end|>", finish_reason: str = "stop") -> None:
        """A well-formed HTTP 200 completion whose text is garbage (not what the prompt asked)."""
        with self._lock:
            self._faults.extend(Completion(text=text, finish_reason=finish_reason) for _ in range(n))

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self.requests)

    def prompts(self) -> list[str]:
        with self._lock:
            return [r.prompt for r in self.requests]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._faults.clear()
            self.max_in_flight = 0

    # ---- lifecycle ------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "LoopbackServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: SDK connection pools reuse sockets

            def setup(self):
                super().setup()
                # headers and body go out in two writes: without NODELAY, Nagle + delayed ACK
                # add ~40 ms to every keep-alive reply
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self):  # noqa: N802 (http.server naming)
                server._handle(self)

            do_GET = do_POST  # noqa: N815

            def log_message(self, *args):  # silence stderr access logs
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- request handling -----------------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        with self._lock:
            request = RecordedRequest(
                index=len(self.requests), method=handler.command, path=handler.path,
                headers=dict(handler.headers.items()), raw=raw, json=parsed, received_at=time.monotonic(),
            )
            self.requests.append(request)
            fault = self._faults.popleft() if self._faults else None
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            reply = self._decide(request, fault) if isinstance(fault, Completion) or fault is None else fault
            latency = self.latency_s(request) if callable(self.latency_s) else self.latency_s
            self._stopping.wait(latency + reply.delay_s)
            if reply.hang:
                self._stopping.wait(self.hang_s)
            self._send(handler, reply)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout): nothing to answer
        finally:
            with self._lock:
                self._in_flight -= 1

    def _decide(self, request: RecordedRequest, queued: Completion | None = None) -> Reply:
        if not self.route(request.method, request.path.split("?")[0]):
            return self.render_error(404, f"no route for {request.method} {request.path}")
        if request.json is None:
            return self.render_error(400, "request body is not JSON")
        request.prompt = self.parse_prompt(request)
        if queued is not None:
            answer = Completion(queued.text, queued.finish_reason, queued.prompt_tokens, queued.completion_tokens)
        else:
            answer = self.reply_fn(request) if self.reply_fn else Completion(text=f"écho : {request.prompt}")
        if isinstance(answer, Reply):
            return answer
        if isinstance(answer, str):
            answer = Completion(text=answer)
        budget = self.max_tokens_of(request) if self.enforce_max_tokens else None
        words = answer.text.split(" ")
        if budget is not None and len(words) > budget:
            answer = Completion(" ".join(words[:budget]), "length", answer.prompt_tokens, budget)
        if answer.prompt_tokens is None:
            answer.prompt_tokens = len(request.prompt.split())
        if answer.completion_tokens is None:
            answer.completion_tokens = len(answer.text.split())
        return self.render_completion(request, answer)

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        body = reply.body if reply.body is not None else json.dumps(reply.json, ensure_ascii=False).encode("utf-8")
        handler.send_response(reply.status)
        headers = {"Content-Type": "application/json", **reply.headers}
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
        handler.wfile.flush()
