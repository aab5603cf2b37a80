"""One root error type for everything leadstats refuses or cannot do.

Front ends map these to their own vocabulary in exactly one place each: the HTTP API turns
``http_status`` into a status code and ``code`` into the JSON error body, the CLI prints ``message`` and
exits with ``exit_code``. Nothing else should catch and re-word them.
"""

from __future__ import annotations


class LeadStatsError(Exception):
    """Root of every error leadstats raises on purpose."""

    code = "error"
    http_status = 400
    exit_code = 2

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "message": self.message, "field": self.field}


class QueryError(LeadStatsError):
    """A report query that cannot be answered as asked (unknown dimension, bad window, ...)."""

    code = "invalid_query"


class InvalidEvent(LeadStatsError):
    """One event record that fails validation."""

    code = "invalid_event"
    http_status = 422


class InputError(LeadStatsError):
    """A file or request body that cannot be read at all."""

    code = "invalid_input"


class SettingsError(LeadStatsError):
    """An environment variable with a value leadstats cannot use; the message names the variable."""

    code = "bad_setting"
    http_status = 500


class NotFound(LeadStatsError):
    code = "not_found"
    http_status = 404
    exit_code = 1


class StoreError(LeadStatsError):
    """The store cannot be opened or written (locked by another process, bad URL, ...)."""

    code = "store_error"
    http_status = 503
    exit_code = 1


class PortInUse(LeadStatsError):
    """``serve``/``demo`` cannot listen: the port is taken (or the address cannot be bound)."""

    code = "port_in_use"
    exit_code = 1


class StorageFull(StoreError):
    """The store's disk is full: nothing of the refused batch was acknowledged; retry when space is back."""

    code = "storage_full"
    http_status = 507

    def __init__(self, message: str, *, retry_after: int = 30) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class QueryTimeout(LeadStatsError):
    """A report stopped by its time limit, or because its client went away."""

    code = "query_timeout"
    http_status = 503
    exit_code = 1


class AuthError(LeadStatsError):
    code = "unauthorized"
    http_status = 401


class ForbiddenError(LeadStatsError):
    code = "forbidden"
    http_status = 403


class TooLarge(LeadStatsError):
    code = "too_large"
    http_status = 413


class RateLimited(LeadStatsError):
    code = "rate_limited"
    http_status = 429

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UpstreamError(LeadStatsError):
    """A remote service we read from (D1 REST, Analytics Engine, a webhook) failed."""

    code = "upstream_error"
    http_status = 502
    exit_code = 1
