"""Requests/min and tokens/min limits shared by every worker thread of a client.

Two token buckets refilled continuously; a bucket holds at most `burst_s` seconds of budget
(1 s for requests, 6 s for tokens), so a burst never exceeds the rate by more than that. A request reserves its
estimated tokens (prompt + max_tokens, the way providers count against a TPM quota) up front.
"""

from __future__ import annotations

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
                if self._level >= amount:
                    self._level -= amount
                    return waited
                wait = (amount - self._level) / self.rate
            self._sleep(wait)
            waited += wait


class RateLimiter:
    def __init__(self, requests_per_minute: float | None = None, tokens_per_minute: float | None = None):
        self.requests = TokenBucket(requests_per_minute) if requests_per_minute else None
        self.tokens = TokenBucket(tokens_per_minute, burst_s=6.0) if tokens_per_minute else None

    def acquire(self, estimated_tokens: int) -> float:
        waited = self.requests.acquire(1) if self.requests else 0.0
        if self.tokens:
            waited += self.tokens.acquire(estimated_tokens)
        return waited
