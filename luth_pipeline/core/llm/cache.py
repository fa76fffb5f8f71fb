"""Content-addressed response cache: SQLite (WAL) plus read-only JSONL fixture layers.

A stored reply is keyed by the endpoint's identity (backend + base URL: `endpoint_identity`)
and the request's content key (model, messages, sampling parameters, schema), and stored with
its status. A lookup returns replies with their status and the client decides: only `ok`
answers a request; a truncated or unparseable reply is kept for the record (what the model
said, and why it was refused) and is asked again (or, when truncated and the stage allows it,
asked with a larger `max_tokens`), so a re-run sends exactly the requests that failed. Fixing an endpoint's `base_url` changes its identity,
so the replies of the old server answer nothing.

Every response is committed the moment it finishes, so a killed run (even SIGKILL) loses only
the requests that were in flight. Transport failures (no reply at all) are not stored.
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

TABLE = "replies"  # `responses` (before statuses and endpoint keys) is left alone: its rows answer nothing now
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    endpoint TEXT NOT NULL,
    key TEXT NOT NULL,
    model TEXT NOT NULL,
    request_json TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    text TEXT NOT NULL,
    finish_reason TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    latency_s REAL NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (endpoint, key)
)
"""


def endpoint_identity(backend: str, base_url: str | None) -> str:
    """What answers a request besides its content: the backend and where it lives (the model is
    in the request). A cloud default (no base_url) is named by its backend alone."""
    return f"{backend}:{base_url.rstrip('/') if base_url else 'default'}"


def request_to_json(request: LLMRequest) -> dict:
    payload = asdict(request)
    payload.pop("row_id")
    payload["messages"] = list(payload["messages"])
    return payload


def request_from_json(payload: dict) -> LLMRequest:
    return LLMRequest(**{**payload, "messages": tuple(payload["messages"])})


class SQLiteResponseCache:
    """One connection per thread; writers serialize through SQLite's own lock (busy timeout)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        conn = self._connect()
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

    def get_many(self, keys: Iterable[str], endpoint: str) -> dict[str, LLMResponse]:
        """The replies `endpoint` gave to `keys`, each with its status (failed ones too: see the module doc)."""
        keys = list(dict.fromkeys(keys))
        found: dict[str, LLMResponse] = {}
        conn = self._connect()
        for start in range(0, len(keys), 500):  # SQLite's bound-parameter limit
            chunk = keys[start:start + 500]
            rows = conn.execute(
                "SELECT key, text, finish_reason, prompt_tokens, completion_tokens, latency_s, error, status "
                f"FROM {TABLE} WHERE endpoint = ? AND key IN ({','.join('?' * len(chunk))})",
                [endpoint, *chunk],
            ).fetchall()
            for key, text, finish, prompt_tokens, completion_tokens, latency_s, error, status in rows:
                found[key] = LLMResponse(text, finish, prompt_tokens, completion_tokens, latency_s, True, error, status)
        return found

    def statuses(self) -> dict[tuple[str, str], int]:
        """Stored replies per (endpoint, status), for reports and tests."""
        rows = self._connect().execute(f"SELECT endpoint, status, COUNT(*) FROM {TABLE} GROUP BY endpoint, status")
        return {(endpoint, status): n for endpoint, status, n in rows}

    def put(self, endpoint: str, request: LLMRequest, response: LLMResponse) -> None:
        self.put_many(endpoint, [(request, response)])

    def put_many(self, endpoint: str, pairs: Iterable[tuple[LLMRequest, LLMResponse]]) -> None:
        """Store replies in one transaction (a reply-less transport failure is not stored)."""
        rows = [(endpoint, request.cache_key(), request.model, json.dumps(request_to_json(request), ensure_ascii=False),
                 response.status, response.error, response.text, response.finish_reason, response.prompt_tokens,
                 response.completion_tokens, response.latency_s, time.time())
                for request, response in pairs if response.finish_reason != "error"]
        conn = self._connect()
        conn.execute("BEGIN")
        try:
            conn.executemany(f"INSERT OR REPLACE INTO {TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def __len__(self) -> int:
        return self._connect().execute(f"SELECT COUNT(*) FROM {TABLE}").fetchone()[0]

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class FixtureResponseCache:
    """Read-only answers shipped as JSONL lines `{"request": {...}, "response": {...}}`.

    Keys are recomputed from the stored request, so a fixture can never answer a request it
    was not written for (change a prompt template and the fixture simply misses). A fixture is
    the answer we ship for its request, whatever the endpoint (the `local` profile's stand-in
    for the real model); its status is judged like a fresh reply's, so a shipped truncated
    answer is a failure too — a final one: the client moves it to a larger budget when the
    fixture holds that too, and never asks another endpoint to redo a recorded reply.
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
                    self._entries[request.cache_key()] = LLMResponse(
                        response["text"], response.get("finish_reason", "stop"), response.get("prompt_tokens", 0),
                        response.get("completion_tokens", 0), 0.0, cached=True, recorded=True)
                except (ValueError, KeyError, TypeError) as exc:
                    raise ValueError(f"{path}:{line_no}: not a fixture cache entry ({exc}); "
                                     "expected {{\"request\": {{...}}, \"response\": {{\"text\": ...}}}}") from exc

    def get_many(self, keys: Iterable[str], endpoint: str | None = None) -> dict[str, LLMResponse]:
        return {k: self._entries[k] for k in keys if k in self._entries}

    def __len__(self) -> int:
        return len(self._entries)


class LayeredCache:
    """Fixture layers first (read-only), then the writable SQLite cache.

    Both return replies whatever their status: the client judges each one.
    """

    def __init__(self, store: SQLiteResponseCache, fixtures: FixtureResponseCache | None = None):
        self.store = store
        self.fixtures = fixtures

    def get_many(self, keys: Iterable[str], endpoint: str) -> dict[str, LLMResponse]:
        keys = list(keys)
        found = self.fixtures.get_many(keys) if self.fixtures else {}
        found.update(self.store.get_many([k for k in keys if k not in found] if found else keys, endpoint))
        return found

    def put(self, endpoint: str, request: LLMRequest, response: LLMResponse) -> None:
        self.store.put(endpoint, request, response)

    def close(self) -> None:
        self.store.close()
