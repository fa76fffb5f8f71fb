"""Progress of a generation run: done/total, rate, ETA, cache hits, failures."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


@dataclass(frozen=True)
class ProgressUpdate:
    desc: str
    done: int
    total: int
    cache_hits: int
    failures: int
    retries: int
    elapsed_s: float
    rate_per_s: float  # requests answered by the backend per second (cache hits excluded)
    eta_s: float | None

    def __str__(self) -> str:
        pct = 100.0 * self.done / self.total if self.total else 100.0
        eta = _duration(self.eta_s) if self.eta_s is not None else "?"
        return (f"{self.desc}: {self.done}/{self.total} ({pct:.0f}%) · {self.rate_per_s:.2f} req/s · ETA {eta} · "
                f"{self.cache_hits} cached · {self.failures} failed · {self.retries} retries")


class ProgressReporter:
    """Emits an update at start, then at most every `every_s` seconds, and at the end."""

    def __init__(self, desc: str, total: int, every_s: float, sinks: list[Callable[[ProgressUpdate], None]]):
        self.desc, self.total, self.every_s, self.sinks = desc, total, every_s, sinks
        self.started = time.monotonic()
        self._last_emit = float("-inf")
        self.done = self.cache_hits = self.failures = self.retries = 0

    def update(self, *, done: int = 0, cache_hits: int = 0, failures: int = 0, force: bool = False):
        self.done += done
        self.cache_hits += cache_hits
        self.failures += failures
        now = time.monotonic()
        if force or self.done >= self.total or now - self._last_emit >= self.every_s:
            self._last_emit = now
            self._emit(now)

    def _emit(self, now: float) -> None:
        elapsed = now - self.started
        generated = self.done - self.cache_hits
        rate = generated / elapsed if elapsed > 0 else 0.0
        remaining = self.total - self.done
        eta = 0.0 if remaining == 0 else (remaining / rate if rate > 0 else None)
        update = ProgressUpdate(self.desc, self.done, self.total, self.cache_hits, self.failures, self.retries,
                                elapsed, rate, eta)
        for sink in self.sinks:
            sink(update)
