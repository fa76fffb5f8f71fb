"""Errors of the LLM layer, classified so the client knows what to retry."""


class LLMError(Exception):
    """A request failed. `reason` is a short stable label used in failure counts."""

    reason = "error"

    def __init__(self, message: str, reason: str | None = None):
        super().__init__(message)
        if reason:
            self.reason = reason


class TransientLLMError(LLMError):
    """Worth retrying: 429, 5xx, timeouts, dropped connections, malformed bodies."""


class PermanentLLMError(LLMError):
    """Retrying cannot help: 400/401/403/404, a refused prompt."""


class LLMSetupError(RuntimeError):
    """The backend cannot start (missing package, missing API key, unknown endpoint)."""


class FailureRateExceeded(RuntimeError):
    """More requests failed than the configured `max_failure_rate` allows."""


def classify_status(status: int, message: str) -> LLMError:
    if status == 429:
        return TransientLLMError(message, "rate_limited_429")
    if status >= 500:
        return TransientLLMError(message, f"server_error_{status}")
    if status in (408, 409):
        return TransientLLMError(message, f"retryable_{status}")
    return PermanentLLMError(message, f"client_error_{status}")
