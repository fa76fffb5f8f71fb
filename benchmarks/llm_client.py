"""LLM client throughput against the loopback OpenAI server (50 ms latency per request).

Baseline: one request at a time (what a plain loop over the SDK does), timed after one untimed
warm-up call (the SDK's first call builds its client and connection: counting it would slow the
baseline and inflate every speed-up). Ours: the same requests through `LLMClient` at several
concurrencies. The server runs in its own process so it does not share the client's GIL. Then a
full-cache re-run: zero requests, rows/s answered from SQLite (wall and CPU seconds).
Run: `.venv/bin/python benchmarks/llm_client.py [--requests 400]`.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import openai  # noqa: E402

from luth_pipeline.core.llm.backends import make_backend  # noqa: E402
from luth_pipeline.core.llm.cache import LayeredCache, SQLiteResponseCache  # noqa: E402
from luth_pipeline.core.llm.client import LLMClient  # noqa: E402
from luth_pipeline.core.llm.config import EndpointConfig  # noqa: E402
from luth_pipeline.core.llm.types import LLMRequest  # noqa: E402
from luth_pipeline_tests.servers import OpenAIChatServer  # noqa: E402


def _serve(latency: float, urls, stop) -> None:
    with OpenAIChatServer(latency_s=latency) as server:
        urls.put(server.url)
        stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--sequential-requests", type=int, default=100)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--cache-rows", type=int, default=50_000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    def requests(n: int, tag: str) -> list[LLMRequest]:
        return [LLMRequest(model="bench", messages=({"role": "user", "content": f"{tag} prompt {i}"},)) for i in range(n)]

    urls, stop = multiprocessing.Queue(), multiprocessing.Event()
    worker = multiprocessing.Process(target=_serve, args=(args.latency, urls, stop), daemon=True)
    worker.start()
    url = urls.get(timeout=30)
    try:
        print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        sdk = openai.OpenAI(base_url=url + "/v1", api_key="EMPTY", max_retries=0)
        sdk.chat.completions.create(model="bench", messages=[{"role": "user", "content": "warm-up"}], max_tokens=8)
        started = time.perf_counter()
        for request in requests(args.sequential_requests, "seq"):
            sdk.chat.completions.create(model=request.model, messages=list(request.messages), max_tokens=request.max_tokens)
        sequential = args.sequential_requests / (time.perf_counter() - started)
        print(f"latency {args.latency * 1000:.0f} ms; sequential SDK loop: {sequential:.1f} req/s "
              f"({args.sequential_requests} requests)")
        for concurrency in args.concurrency:
            endpoint = EndpointConfig(backend="openai", base_url=url + "/v1", max_concurrency=concurrency)
            client = LLMClient(make_backend("bench", endpoint, None), None, progress_every_s=3600)
            batch = requests(args.requests, f"c{concurrency}")
            started = time.perf_counter()
            result = client.generate(batch)
            rate = args.requests / (time.perf_counter() - started)
            assert all(r.ok for r in result.responses)
            client.close()
            print(f"LLMClient concurrency {concurrency:3d}: {rate:7.1f} req/s, speed-up {rate / sequential:5.1f}x "
                  f"(target >= {0.8 * concurrency:.1f}x)")
    finally:
        stop.set()
        worker.join(10)

    # Full-cache re-run on a big cache (rows written directly: the backend is not the point);
    # the in-process server counts what reaches it.
    with OpenAIChatServer() as server, tempfile.TemporaryDirectory() as tmp:
        endpoint = EndpointConfig(backend="openai", base_url=server.url + "/v1")
        cache = LayeredCache(SQLiteResponseCache(Path(tmp) / "cache.sqlite"))
        client = LLMClient(make_backend("bench", endpoint, None), cache, progress_every_s=3600)
        big = requests(args.cache_rows, "cached")
        template = client.generate(big[:1]).responses[0]
        cache.store.put_many(client.endpoint_id, ((request, template) for request in big[1:]))
        before = server.request_count
        big = requests(args.cache_rows, "cached")  # fresh objects: no key computed yet, as in a new run
        started, cpu = time.perf_counter(), time.process_time()
        rerun = client.generate(big)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        assert rerun.stats.cache_hits == args.cache_rows and all(r.ok for r in rerun.responses)
        print(f"full-cache re-run: {args.cache_rows / wall:.0f} rows/s ({wall:.2f} s wall, {cpu:.2f} s CPU), "
              f"{server.request_count - before} requests sent ({args.cache_rows} rows)")
        # the cache key alone, ours vs the former `dataclasses.asdict` + sorted-keys dump (baseline)
        fresh = requests(args.cache_rows, "cached")
        started = time.process_time()
        for request in fresh:
            _asdict_key(request)
        baseline_cpu = time.process_time() - started
        started = time.process_time()
        for request in fresh:
            request.cache_key()
        ours_cpu = time.process_time() - started
        print(f"cache keys of {args.cache_rows} rows: asdict baseline {baseline_cpu:.2f} s CPU, ours {ours_cpu:.2f} s CPU "
              f"({baseline_cpu / ours_cpu:.1f}x)")
        print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def _asdict_key(request: LLMRequest) -> str:
    """The key as it was computed before (a deep copy of the whole request first)."""
    payload = dataclasses.asdict(request)
    payload.pop("row_id")
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


if __name__ == "__main__":
    main()
