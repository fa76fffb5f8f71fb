"""`LLMClient`: cached, rate-limited, retried, bounded-concurrency generation, results in order.

    client = LLMClient(backend, cache, limiter=RateLimiter(600, 2e6), max_retries=5)
    result = client.generate(requests, desc="translate")   # result.responses[i] answers requests[i]
    result = client.generate(requests, parse=my_parser)    # response.parsed, or status unparseable

1. Every request is looked up in the cache (fixture layers, then SQLite, keyed by endpoint and
   request); identical requests in one call are sent once.
2. Misses go to the backend: API backends through a thread pool of `max_concurrency` workers,
   each call waiting on the rate limiter and retried by tenacity (exponential backoff with
   jitter) on transient errors; offline engines (`vllm`) in batches.
3. Every reply is judged (`types.STATUSES`): `ok` only when the model stopped on its own
   (finish_reason "stop") and the stage's parser read it (by default: JSON valid against the
   request's `json_schema`, when one was asked). A truncated reply is asked again with a larger
   `max_tokens`, an unparseable one asked again, as the stage's `ReplyPolicy` says; whatever
   is still not ok comes back with `status`/`error` set and is never a success.
4. Each reply is written to the cache with its status at once (crash-safe resume). Cached
   replies are judged again on the next run: ok ones answer, failed ones are asked again.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import tenacity

from luth_pipeline.core.llm.backends.base import LLMBackend, text_of
from luth_pipeline.core.llm.cache import LayeredCache, endpoint_identity
from luth_pipeline.core.llm.config import ModelPrice, ReplyPolicy
from luth_pipeline.core.llm.errors import FailureRateExceeded, LLMError, LLMSetupError, TransientLLMError
from luth_pipeline.core.llm.progress import ProgressReporter, ProgressUpdate
from luth_pipeline.core.llm.ratelimit import RateLimiter
from luth_pipeline.core.llm.types import ERROR, INCOMPLETE, OK, TRUNCATED, UNPARSEABLE, LLMRequest, LLMResponse

log = logging.getLogger(__name__)

# A parser turns a reply's text into what the stage needs, or raises ValueError (pydantic's
# ValidationError is one) saying why it cannot: the reply is then `unparseable`.
ReplyParser = Callable[[str], Any]


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


@lru_cache(maxsize=64)
def _schema_validator(schema_json: str):
    import jsonschema

    schema = json.loads(schema_json)
    return jsonschema.validators.validator_for(schema)(schema)


def json_schema_parser(schema: dict) -> ReplyParser:
    """The default parser of a request that asked for structured output: strict JSON, valid
    against the schema (a stage with its own repair passes its own parser instead)."""
    validator = _schema_validator(json.dumps(schema, sort_keys=True))

    def parse(text: str) -> Any:
        value = json.loads(text)  # JSONDecodeError is a ValueError
        error = next(iter(validator.iter_errors(value)), None)
        if error is not None:
            where = "/".join(map(str, error.absolute_path)) or "the top level"
            raise ValueError(f"schema violation at {where}: {error.message[:200]}")
        return value

    return parse


def judge_reply(request: LLMRequest, response: LLMResponse, parse: ReplyParser | None = None) -> LLMResponse:
    """The response with its status decided from what came back (a cached reply is judged again,
    so a stage's new parser applies to old replies)."""
    if response.finish_reason == "error" or response.status == ERROR:
        return response
    parsed, status, error = None, OK, None
    if response.finish_reason == "length":
        status, error = TRUNCATED, f"{TRUNCATED}: stopped at max_tokens={request.max_tokens} (finish_reason=length)"
    elif response.finish_reason != "stop":
        status, error = INCOMPLETE, f"{INCOMPLETE}: finish_reason={response.finish_reason}"
    else:
        parser = parse or (json_schema_parser(request.json_schema) if request.json_schema is not None else None)
        if parser is not None:
            try:
                parsed = parser(response.text)
            except ValueError as exc:
                status, error = UNPARSEABLE, f"{UNPARSEABLE}: {str(exc)[:300]}"
    if status == response.status and error == response.error and parsed is None:
        return response
    return dataclasses.replace(response, status=status, error=error, parsed=parsed)


@dataclass
class GenerationStats:
    total: int = 0
    cache_hits: int = 0
    deduplicated: int = 0  # identical requests in one call, answered by one backend call
    calls: int = 0  # distinct requests sent to the backend (answered or failed)
    attempts: int = 0  # backend calls including retries
    retries: int = 0  # transport retries (429, 5xx, timeouts)
    reasked_truncated: int = 0  # replies cut at max_tokens, asked again with a larger budget
    reasked_unparseable: int = 0
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
               "attempts": self.attempts, "retries": self.retries, "reasked_truncated": self.reasked_truncated,
               "reasked_unparseable": self.reasked_unparseable, "failed": self.failed, "prompt_tokens": self.prompt_tokens,
               "completion_tokens": self.completion_tokens, "elapsed_s": round(self.elapsed_s, 2)}
        if self.cost_usd is not None or self.saved_usd is not None:
            out["cost_usd"] = round(self.cost_usd or 0.0, 4)
            out["saved_by_cache_usd"] = round(self.saved_usd or 0.0, 4)
        return out

    def check_failure_rate(self, max_rate: float, desc: str = "generation") -> None:
        if self.failure_rate > max_rate:
            raise FailureRateExceeded(failure_message(self, max_rate, desc))


@dataclass
class GenerationResult:
    responses: list[LLMResponse]
    stats: GenerationStats

    def check_failure_rate(self, max_rate: float, desc: str = "generation") -> None:
        self.stats.check_failure_rate(max_rate, desc)


def failure_message(stats: GenerationStats, max_rate: float, desc: str) -> str:
    """Why the stage stops, and what a re-run will really do."""
    reasons = ", ".join(f"{r}: {n}" for r, n in stats.failures.most_common())
    ok = stats.total - stats.failed
    advice = []
    if stats.failures.get(TRUNCATED):
        advice.append(f"{stats.failures[TRUNCATED]} replies stopped at max_tokens even after the stage's retries with a "
                      "larger budget: re-sent with the same budget they are likely cut again, so raise the stage's "
                      "`max_tokens` (or `on_bad_reply.truncated_retries`)")
    if stats.failures.get(UNPARSEABLE):
        advice.append(f"{stats.failures[UNPARSEABLE]} replies could not be read: check the prompt asks for the format "
                      "the stage parses")
    transport = stats.failed - stats.failures.get(TRUNCATED, 0) - stats.failures.get(UNPARSEABLE, 0)
    if transport:
        advice.append(f"{transport} requests got no usable reply from the endpoint: check `base_url`, the key and "
                      "the server (a changed base_url is a new endpoint: nothing of the old one is reused)")
    return (f"{desc}: {stats.failed}/{stats.total} requests failed ({stats.failure_rate:.1%} > max_failure_rate "
            f"{max_rate:.1%}); reasons: {reasons}. Every reply is cached with its status: a re-run answers the {ok} "
            f"good ones from the cache and sends the {stats.failed} failed ones again. "
            + "; ".join(advice) + (". " if advice else "") + "Or raise llm.max_failure_rate.")


class _Job:
    """One distinct request on its way to a usable reply (a retry with more tokens is a new request)."""

    __slots__ = ("original_key", "request", "truncated_left", "unparseable_left")

    def __init__(self, original_key: str, request: LLMRequest, policy: ReplyPolicy):
        self.original_key, self.request = original_key, request
        self.truncated_left, self.unparseable_left = policy.truncated_retries, policy.unparseable_retries

    @property
    def key(self) -> str:
        return self.request.cache_key()

    def escalate(self, policy: ReplyPolicy) -> bool:
        """Move on to a larger max_tokens; False when the policy allows no more."""
        budget = int(self.request.max_tokens * policy.max_tokens_factor)
        if policy.max_tokens_cap is not None:
            budget = min(budget, policy.max_tokens_cap)
        if self.truncated_left <= 0 or budget <= self.request.max_tokens:
            return False
        self.truncated_left -= 1
        self.request = dataclasses.replace(self.request, max_tokens=budget)
        return True


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
        policy: ReplyPolicy | None = None,
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
        self.policy = policy or ReplyPolicy()
        # Part of every cache key: after a fix of base_url, the old server's replies answer nothing.
        self.endpoint_id = endpoint_identity(backend.endpoint.backend, backend.endpoint.base_url)

    # ---- public ---------------------------------------------------------------------------
    def generate(
        self,
        requests: Sequence[LLMRequest],
        desc: str = "llm",
        on_progress: Callable[[ProgressUpdate], None] | None = None,
        parse: ReplyParser | None = None,
        policy: ReplyPolicy | None = None,
    ) -> GenerationResult:
        """One response per request, in order, each with its status. `parse` reads every reply
        (default: JSON valid against the request's `json_schema`, when it has one); what it
        returns is `response.parsed`, and a reply it rejects is `unparseable`. `policy` overrides
        the client's (the stage's) `ReplyPolicy`."""
        policy = policy or self.policy
        stats = GenerationStats(total=len(requests))
        keys = [r.cache_key() for r in requests]
        duplicates = collections.Counter(keys)
        sinks = [lambda u: self.logger.info(str(u))] + ([on_progress] if on_progress else [])
        progress = ProgressReporter(desc, len(requests), self.progress_every_s, sinks)
        answered: dict[str, LLMResponse] = {}

        def hit(key: str, model: str, response: LLMResponse) -> None:
            answered[key] = response
            n = duplicates[key]
            stats.cache_hits += n
            stats.cached_prompt_tokens += response.prompt_tokens * n
            stats.cached_completion_tokens += response.completion_tokens * n
            if self.prices:
                self._add_cost(stats, model, response, saved=True, times=n)

        def finish(job: _Job, response: LLMResponse, from_cache: bool) -> None:
            if from_cache:  # ok by construction; progress is reported once for all hits
                hit(job.original_key, job.request.model, response)
                return
            answered[job.original_key] = response
            n = duplicates[job.original_key]
            if not response.ok:
                stats.failures[response.reason] += n
            progress.retries = stats.retries
            progress.update(done=n, failures=0 if response.ok else n)

        found = self.cache.get_many(keys, self.endpoint_id) if self.cache else {}
        jobs = []
        for key, request in dict(zip(keys, requests)).items():
            cached = found.get(key)
            if cached is not None and cached.status == OK and parse is None and request.json_schema is None:
                hit(key, request.model, cached)  # the common full-cache case: nothing to judge, no job
            else:
                jobs.append(_Job(key, request, policy))
        send = self._from_cache(jobs, found, parse, policy, finish)
        stats.deduplicated = sum(duplicates[job.original_key] - 1 for job in send)
        progress.update(done=stats.cache_hits, cache_hits=stats.cache_hits, force=True)
        while send:
            escalated, send = self._ask(send, parse, policy, stats, finish)
            if escalated:  # the larger budget may have been asked before (a previous run)
                view = self.cache.get_many([job.key for job in escalated], self.endpoint_id) if self.cache else {}
                send += self._from_cache(escalated, view, parse, policy, finish)
        stats.elapsed_s = time.monotonic() - progress.started
        return GenerationResult([answered[k] for k in keys], stats)

    def close(self) -> None:
        self.backend.close()
        if self.cache:
            self.cache.close()

    # ---- internals ------------------------------------------------------------------------
    def _from_cache(self, jobs: list[_Job], view: Mapping[str, LLMResponse], parse: ReplyParser | None,
                    policy: ReplyPolicy, finish) -> list[_Job]:
        """Answer jobs from cached replies; return those that must be sent. A cached truncation
        moves a job to its larger budget without sending again the request known to be cut."""
        send = []
        while jobs:
            again = []
            for job in jobs:
                cached = view.get(job.key)
                if cached is None:
                    send.append(job)
                    continue
                cached = judge_reply(job.request, cached, parse)
                if cached.ok:
                    finish(job, cached, from_cache=True)
                elif cached.status == TRUNCATED and job.escalate(policy):
                    again.append(job)
                elif cached.recorded:
                    finish(job, cached, from_cache=False)  # a shipped failure is final (types.LLMResponse)
                else:
                    send.append(job)  # a failed reply is asked again
            jobs = again
            if jobs:
                view = self.cache.get_many([job.key for job in jobs], self.endpoint_id) if self.cache else {}
        return send

    def _ask(self, jobs: list[_Job], parse: ReplyParser | None, policy: ReplyPolicy, stats: GenerationStats,
             finish) -> tuple[list[_Job], list[_Job]]:
        """Send the jobs' requests and finish those that are done. Returns (jobs moved to a larger
        budget, to look up first; jobs to send again as they are)."""
        by_key: dict[str, list[_Job]] = collections.defaultdict(list)
        for job in jobs:
            by_key[job.key].append(job)
        todo = {key: group[0].request for key, group in by_key.items()}
        escalated, resend = [], []
        for key, raw in self._run(todo, stats):
            request = todo[key]
            response = judge_reply(request, raw, parse)
            if response.finish_reason != "error":  # a reply came back: it cost tokens, and is kept
                stats.prompt_tokens += response.prompt_tokens
                stats.completion_tokens += response.completion_tokens
                self._add_cost(stats, request.model, response, saved=False)
                if self.cache:
                    self.cache.put(self.endpoint_id, request, response)
            for job in by_key[key]:
                if response.status == TRUNCATED and job.escalate(policy):
                    stats.reasked_truncated += 1
                    escalated.append(job)
                elif response.status == UNPARSEABLE and job.unparseable_left > 0:
                    job.unparseable_left -= 1
                    stats.reasked_unparseable += 1
                    resend.append(job)
                else:
                    if response.status in (TRUNCATED, UNPARSEABLE, INCOMPLETE):  # transport failures: see _failed
                        where = f" (row {request.row_id})" if request.row_id else ""
                        self.logger.warning(redact(f"LLM reply refused{where}: {response.error}", self._secrets))
                    finish(job, response, from_cache=False)
        return escalated, resend

    def _run(self, todo: dict[str, LLMRequest], stats: GenerationStats):
        """Yield (key, response) as each request finishes (completion order)."""
        if not todo:
            return
        stats.calls += len(todo)
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
                    count_attempt()
                    response, waited = self.backend.call(request, lambda: self.limiter.acquire(estimate_tokens(request)))
                    with lock:
                        stats.rate_limit_wait_s += waited
                    return response
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

    def _add_cost(self, stats: GenerationStats, model: str, response: LLMResponse, saved: bool, times: int = 1) -> None:
        price = self.prices.get(model)
        if price is None:
            return
        usd = times * (response.prompt_tokens * price.input_per_mtok + response.completion_tokens * price.output_per_mtok) / 1e6
        if saved:
            stats.saved_usd = (stats.saved_usd or 0.0) + usd
        else:
            stats.cost_usd = (stats.cost_usd or 0.0) + usd
