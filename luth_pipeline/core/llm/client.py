"""`LLMClient`: cached, rate-limited, retried, bounded-concurrency generation, results in order.

    client = LLMClient(backend, cache, limiter=RateLimiter(600, 2e6), max_retries=5)
    result = client.generate(requests, desc="translate")   # result.responses[i] answers requests[i]

1. Every request is looked up in the cache (fixture layers, then SQLite); identical requests
   in one call are sent once.
2. Misses go to the backend: API backends through a thread pool of `max_concurrency` workers,
   each call waiting on the rate limiter and retried by tenacity (exponential backoff with
   jitter) on transient errors; offline engines (`vllm`) in batches.
3. Each finished response is written to the cache at once (crash-safe resume). A request
   that still fails after its retries becomes a response with `error` set (reason first) and
   is not cached, so the next run tries it again.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

import tenacity

from luth_pipeline.core.llm.backends.base import LLMBackend, text_of
from luth_pipeline.core.llm.cache import LayeredCache
from luth_pipeline.core.llm.config import ModelPrice
from luth_pipeline.core.llm.errors import FailureRateExceeded, LLMError, LLMSetupError, TransientLLMError
from luth_pipeline.core.llm.progress import ProgressReporter, ProgressUpdate
from luth_pipeline.core.llm.ratelimit import RateLimiter
from luth_pipeline.core.llm.types import LLMRequest, LLMResponse

log = logging.getLogger(__name__)


def redact(text: str, secrets: Iterable[str]) -> str:
    """Mask every secret (API keys) in an error message before it is logged or stored."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def estimate_tokens(request: LLMRequest) -> int:
    """Prompt (~4 characters per token) + the completion budget: what providers reserve per call."""
    chars = sum(len(text_of(m["content"])) for m in request.messages)
    return chars // 4 + request.max_tokens


@dataclass
class GenerationStats:
    total: int = 0
    cache_hits: int = 0
    deduplicated: int = 0  # identical requests in one call, answered by one backend call
    calls: int = 0  # distinct requests sent to the backend (answered or failed)
    attempts: int = 0  # backend calls including retries
    retries: int = 0
    failures: collections.Counter = field(default_factory=collections.Counter)  # reason -> count
    prompt_tokens: int = 0  # of backend calls (cache hits cost nothing)
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0
    cached_completion_tokens: int = 0
    elapsed_s: float = 0.0
    rate_limit_wait_s: float = 0.0
    cost_usd: float | None = None
    saved_usd: float | None = None  # what the cache hits would have cost

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    @property
    def failure_rate(self) -> float:
        return self.failed / self.total if self.total else 0.0

    def as_metadata(self) -> dict:
        out = {"requests": self.total, "cache_hits": self.cache_hits, "calls_made": self.calls,
               "attempts": self.attempts, "retries": self.retries, "failed": self.failed, "prompt_tokens": self.prompt_tokens,
               "completion_tokens": self.completion_tokens, "elapsed_s": round(self.elapsed_s, 2)}
        if self.cost_usd is not None or self.saved_usd is not None:
            out["cost_usd"] = round(self.cost_usd or 0.0, 4)
            out["saved_by_cache_usd"] = round(self.saved_usd or 0.0, 4)
        return out


@dataclass
class GenerationResult:
    responses: list[LLMResponse]
    stats: GenerationStats

    def check_failure_rate(self, max_rate: float, desc: str = "generation") -> None:
        if self.stats.failure_rate > max_rate:
            reasons = ", ".join(f"{r}: {n}" for r, n in self.stats.failures.most_common())
            raise FailureRateExceeded(
                f"{desc}: {self.stats.failed}/{self.stats.total} requests failed ({self.stats.failure_rate:.1%} > "
                f"max_failure_rate {max_rate:.1%}); reasons: {reasons}. Finished responses are cached: fix the "
                "endpoint (or raise llm.max_failure_rate) and re-run; only the failed requests will be sent."
            )


class LLMClient:
    def __init__(
        self,
        backend: LLMBackend,
        cache: LayeredCache | None = None,
        *,
        limiter: RateLimiter | None = None,
        max_retries: int = 5,
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 60.0,
        secrets: Sequence[str] = (),
        progress_every_s: float = 15.0,
        logger: logging.Logger | None = None,
        prices: Mapping[str, ModelPrice] | None = None,
    ):
        self.backend = backend
        self.cache = cache
        self.limiter = limiter or RateLimiter()
        self.max_retries = max_retries
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self._secrets = tuple(s for s in secrets if s)
        self.progress_every_s = progress_every_s
        self.logger = logger or log
        self.prices = dict(prices or {})

    # ---- public ---------------------------------------------------------------------------
    def generate(
        self,
        requests: Sequence[LLMRequest],
        desc: str = "llm",
        on_progress: Callable[[ProgressUpdate], None] | None = None,
    ) -> GenerationResult:
        stats = GenerationStats(total=len(requests))
        keys = [r.cache_key() for r in requests]
        found = self.cache.get_many(keys) if self.cache else {}
        todo: dict[str, LLMRequest] = {}
        for key, request in zip(keys, requests):
            if key in found:
                stats.cache_hits += 1
                stats.cached_prompt_tokens += found[key].prompt_tokens
                stats.cached_completion_tokens += found[key].completion_tokens
                self._add_cost(stats, request.model, found[key], saved=True)
            elif key in todo:
                stats.deduplicated += 1
            else:
                todo[key] = request
        sinks = [lambda u: self.logger.info(str(u))] + ([on_progress] if on_progress else [])
        progress = ProgressReporter(desc, len(requests), self.progress_every_s, sinks)
        progress.update(done=stats.cache_hits, cache_hits=stats.cache_hits, force=True)
        answered = dict(found)
        duplicates = collections.Counter(keys)
        for key, response in self._run(todo, stats):
            answered[key] = response
            if response.ok:
                stats.prompt_tokens += response.prompt_tokens
                stats.completion_tokens += response.completion_tokens
                self._add_cost(stats, todo[key].model, response, saved=False)
                if self.cache:
                    self.cache.put(todo[key], response)
            else:
                stats.failures[response.error.split(":", 1)[0]] += duplicates[key]
            progress.retries = stats.retries
            progress.update(done=duplicates[key], failures=0 if response.ok else duplicates[key])
        stats.elapsed_s = time.monotonic() - progress.started
        return GenerationResult([answered[k] for k in keys], stats)

    def close(self) -> None:
        self.backend.close()
        if self.cache:
            self.cache.close()

    # ---- internals ------------------------------------------------------------------------
    def _run(self, todo: dict[str, LLMRequest], stats: GenerationStats):
        """Yield (key, response) as each request finishes (completion order)."""
        if not todo:
            return
        stats.calls = len(todo)
        if self.backend.batched:
            yield from self._run_batched(todo, stats)
            return
        lock = threading.Lock()
        pool = ThreadPoolExecutor(max_workers=self.backend.max_concurrency, thread_name_prefix=f"llm-{self.backend.name}")
        try:
            futures = {pool.submit(self._call_with_retries, request, stats, lock): key for key, request in todo.items()}
            for future in as_completed(futures):
                yield futures[future], future.result()
        finally:
            # On an error or interrupt, queued requests are dropped; finished ones are cached.
            pool.shutdown(wait=True, cancel_futures=True)

    def _run_batched(self, todo: dict[str, LLMRequest], stats: GenerationStats):
        items = list(todo.items())
        size = self.backend.endpoint.batch_size
        for start in range(0, len(items), size):
            chunk = items[start:start + size]
            stats.attempts += len(chunk)
            try:
                responses = self.backend.generate_batch([r for _, r in chunk])
            except LLMSetupError:
                raise
            except Exception as exc:  # noqa: BLE001 - one bad request (a prompt too long…) fails the engine call
                if len(chunk) == 1:
                    responses = [self._failed(exc, chunk[0][1])]
                else:  # find it: each request alone, so only the bad ones fail
                    self.logger.warning(redact(f"a batch of {len(chunk)} failed ({type(exc).__name__}: {exc}); "
                                               "retrying its requests one by one", self._secrets))
                    stats.attempts += len(chunk)
                    responses = [self._one_alone(request) for _, request in chunk]
            yield from ((key, response) for (key, _), response in zip(chunk, responses, strict=True))

    def _one_alone(self, request: LLMRequest) -> LLMResponse:
        try:
            return self.backend.generate_batch([request])[0]
        except LLMSetupError:
            raise
        except Exception as exc:  # noqa: BLE001 - recorded as this row's failure
            return self._failed(exc, request)

    def _call_with_retries(self, request: LLMRequest, stats: GenerationStats, lock: threading.Lock) -> LLMResponse:
        def count_attempt():
            with lock:
                stats.attempts += 1

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.max_retries + 1),
            wait=tenacity.wait_exponential_jitter(initial=self.backoff_initial_s, max=self.backoff_max_s,
                                                  jitter=self.backoff_initial_s),
            retry=tenacity.retry_if_exception_type(TransientLLMError),
            before_sleep=self._note_retry(request, stats, lock),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    waited = self.limiter.acquire(estimate_tokens(request))
                    with lock:
                        stats.rate_limit_wait_s += waited
                    count_attempt()
                    return self.backend.generate(request)
        except LLMSetupError:
            raise
        except Exception as exc:  # noqa: BLE001 - an SDK bug or an unexpected body: one row fails, not the stage
            return self._failed(exc, request)
        raise AssertionError("unreachable: tenacity either returns or raises")

    def _note_retry(self, request: LLMRequest, stats: GenerationStats, lock: threading.Lock):
        def before_sleep(state: tenacity.RetryCallState) -> None:
            with lock:
                stats.retries += 1
            exc = state.outcome.exception() if state.outcome else None
            self.logger.debug(redact(f"retrying {request.row_id or request.cache_key()[:12]} in "
                                     f"{state.upcoming_sleep:.2f}s after {getattr(exc, 'reason', exc)}", self._secrets))

        return before_sleep

    def _failed(self, exc: BaseException, request: LLMRequest | None = None) -> LLMResponse:
        # Our errors carry their reason (`rate_limited`, `server_error_500`…); anything else is unexpected.
        reason = exc.reason if isinstance(exc, LLMError) else f"unexpected_{type(exc).__name__}"
        message = redact(f"{reason}: {exc}", self._secrets)
        where = f" (row {request.row_id})" if request is not None and request.row_id else ""
        self.logger.warning(f"LLM request failed{where}: {message}")
        return LLMResponse(text="", finish_reason="error", error=message)

    def _add_cost(self, stats: GenerationStats, model: str, response: LLMResponse, saved: bool) -> None:
        price = self.prices.get(model)
        if price is None:
            return
        usd = (response.prompt_tokens * price.input_per_mtok + response.completion_tokens * price.output_per_mtok) / 1e6
        if saved:
            stats.saved_usd = (stats.saved_usd or 0.0) + usd
        else:
            stats.cost_usd = (stats.cost_usd or 0.0) + usd
