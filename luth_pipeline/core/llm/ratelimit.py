"""Requests/min and tokens/min limits shared by every worker thread of a client.

Each limit is a sliding window: at most `limit` units were taken in any `window_s` seconds
(60 s: a provider's per-minute quota, in every window, start-up included), with `margin_s`
added to absorb the jitter between our clock and the server's. A token bucket (1 s of budget
for requests, 6 s for tokens) spreads the calls inside the window instead of bursting a whole
minute's quota at once. A request reserves its estimated tokens (prompt + max_tokens, the way
providers count against a TPM quota) up front.

When the limiter is taken matters as much as how: backends that can call it from their HTTP
client's request hook (`LLMBackend.sends_through_gate`) take it right before the bytes go out,
so an SDK's slow first call cannot hold slots and then send them all at once.
"""

from __future__ import annotations

import collections
import threading
import time


class TokenBucket:
    def __init__(self, per_minute: float, burst_s: float = 1.0, clock=time.monotonic, sleep=time.sleep):
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate * burst_s)
        self._level = self.capacity
        self._clock, self._sleep = clock, sleep
        self._stamp = clock()
        self._lock = threading.Lock()

    def acquire(self, amount: float = 1.0) -> float:
        """Block until `amount` is available; return the seconds waited."""
        amount = min(amount, self.capacity)  # a request bigger than the bucket waits for a full one
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                self._level = min(self.capacity, self._level + (now - self._stamp) * self.rate)
                self._stamp = now
                if self._level >= amount - 1e-9:  # the refill after an exact wait can fall short by rounding
                    self._level = max(0.0, self._level - amount)
                    return waited
                wait = (amount - self._level) / self.rate
            self._sleep(wait)
            waited += wait


class SlidingWindow:
    """At most `limit` units taken in any window of `window_s` seconds (+ `margin_s`)."""

    def __init__(self, limit: float, window_s: float = 60.0, margin_s: float = 1.0, clock=time.monotonic,
                 sleep=time.sleep):
        self.limit, self.span = limit, window_s + margin_s
        self._taken: collections.deque[tuple[float, float]] = collections.deque()  # (time, amount)
        self._total = 0.0
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()

    def acquire(self, amount: float = 1.0) -> float:
        amount = min(amount, self.limit)  # bigger than a whole window: waits for an empty one
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                while self._taken and self._taken[0][0] <= now - self.span:
                    self._total -= self._taken.popleft()[1]
                if self._total + amount <= self.limit + 1e-9:
                    self._taken.append((now, amount))
                    self._total += amount
                    return waited
                # wait until enough of the oldest takes leave the window
                excess, wait = self._total + amount - self.limit, 0.0
                for stamp, taken in self._taken:
                    excess -= taken
                    if excess <= 1e-9:
                        wait = stamp + self.span - now
                        break
            wait = max(wait, 1e-3)
            self._sleep(wait)
            waited += wait


class RateLimiter:
    def __init__(self, requests_per_minute: float | None = None, tokens_per_minute: float | None = None, *,
                 window_s: float = 60.0, margin_s: float = 1.0, clock=time.monotonic, sleep=time.sleep):
        """`window_s` < 60 scales the quotas to that window (tests: 600/min over 1 s = 10 per second)."""
        scale = window_s / 60.0

        def limits(per_minute: float, burst_s: float):
            return (TokenBucket(per_minute, burst_s, clock, sleep),
                    SlidingWindow(per_minute * scale, window_s, margin_s, clock, sleep))

        self.requests = limits(requests_per_minute, 1.0) if requests_per_minute else None
        self.tokens = limits(tokens_per_minute, 6.0) if tokens_per_minute else None

    @property
    def active(self) -> bool:
        return self.requests is not None or self.tokens is not None

    def acquire(self, estimated_tokens: int) -> float:
        waited = 0.0
        for limit, amount in ((self.requests, 1), (self.tokens, estimated_tokens)):
            if limit is not None:
                bucket, window = limit
                waited += bucket.acquire(amount)
                waited += window.acquire(amount)
        return waited
