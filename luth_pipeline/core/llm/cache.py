"""Content-addressed response cache: SQLite (WAL) plus read-only JSONL fixture layers.

Every response is committed the moment it finishes, so a killed run (even SIGKILL) loses only
the requests that were in flight; a re-run answers everything else from here and never sends
a finished request again. Failed requests are not stored: the next run retries them.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

from luth_pipeline.core.llm.types import LLMRequest, LLMResponse

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    request_json TEXT NOT NULL,
    text TEXT NOT NULL,
    finish_reason TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    latency_s REAL NOT NULL,
    created_at REAL NOT NULL
)
"""


def request_to_json(request: LLMRequest) -> dict:
    payload = asdict(request)
    payload.pop("row_id")
    payload["messages"] = list(payload["messages"])
    return payload


def request_from_json(payload: dict) -> LLMRequest:
    return LLMRequest(**{**payload, "messages": tuple(payload["messages"])})


def _cached(text: str, finish_reason: str, prompt_tokens: int, completion_tokens: int, latency_s: float) -> LLMResponse:
    return LLMResponse(text=text, finish_reason=finish_reason, prompt_tokens=prompt_tokens,
                       completion_tokens=completion_tokens, latency_s=latency_s, cached=True)


class SQLiteResponseCache:
    """One connection per thread; writers serialize through SQLite's own lock (busy timeout)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            # WAL + synchronous=NORMAL: a committed row survives a process kill (the OS has it);
            # only power loss could drop the last transactions.
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def get_many(self, keys: Iterable[str]) -> dict[str, LLMResponse]:
        keys = list(dict.fromkeys(keys))
        found: dict[str, LLMResponse] = {}
        conn = self._connect()
        for start in range(0, len(keys), 500):  # SQLite's bound-parameter limit
            chunk = keys[start:start + 500]
            rows = conn.execute(
                "SELECT key, text, finish_reason, prompt_tokens, completion_tokens, latency_s FROM responses "
                f"WHERE key IN ({','.join('?' * len(chunk))})", chunk,
            ).fetchall()
            for key, *values in rows:
                found[key] = _cached(*values)
        return found

    def put(self, request: LLMRequest, response: LLMResponse) -> None:
        if not response.ok:
            return
        self._connect().execute(
            "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (request.cache_key(), request.model, json.dumps(request_to_json(request), ensure_ascii=False),
             response.text, response.finish_reason, response.prompt_tokens, response.completion_tokens,
             response.latency_s, time.time()),
        )

    def __len__(self) -> int:
        return self._connect().execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class FixtureResponseCache:
    """Read-only answers shipped as JSONL lines `{"request": {...}, "response": {...}}`.

    Keys are recomputed from the stored request, so a fixture can never answer a request it
    was not written for (change a prompt template and the fixture simply misses).
    """

    def __init__(self, paths: Iterable[str | Path]):
        self.paths = [Path(p) for p in paths]
        self._entries: dict[str, LLMResponse] = {}
        for path in self.paths:
            if not path.is_file():
                raise FileNotFoundError(f"fixture response cache {path} does not exist: fix `llm.fixture_caches` in the profile")
            for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    request = request_from_json(record["request"])
                    response = record["response"]
                    self._entries[request.cache_key()] = _cached(
                        response["text"], response.get("finish_reason", "stop"), response.get("prompt_tokens", 0),
                        response.get("completion_tokens", 0), 0.0)
                except (ValueError, KeyError, TypeError) as exc:
                    raise ValueError(f"{path}:{line_no}: not a fixture cache entry ({exc}); "
                                     "expected {{\"request\": {{...}}, \"response\": {{\"text\": ...}}}}") from exc

    def get_many(self, keys: Iterable[str]) -> dict[str, LLMResponse]:
        return {k: self._entries[k] for k in keys if k in self._entries}

    def __len__(self) -> int:
        return len(self._entries)


class LayeredCache:
    """Fixture layers first (read-only), then the writable SQLite cache."""

    def __init__(self, store: SQLiteResponseCache, fixtures: FixtureResponseCache | None = None):
        self.store = store
        self.fixtures = fixtures

    def get_many(self, keys: Iterable[str]) -> dict[str, LLMResponse]:
        keys = list(keys)
        found = self.fixtures.get_many(keys) if self.fixtures else {}
        found.update(self.store.get_many(k for k in keys if k not in found))
        return found

    def put(self, request: LLMRequest, response: LLMResponse) -> None:
        self.store.put(request, response)

    def close(self) -> None:
        self.store.close()
