"""Errors the Unleash admin client raises, one class per thing a caller can do about it.

Our exception hierarchy:

* UnleashError
  + UnleashUnavailable - no answer: connection refused/reset, timeout, 5xx after retries,
                         or 429 (rate-limited; Unleash limits e.g. flag search to 15/min).
  + UnleashAuthError   - 401/403: not an admin token, or the URL is not the server's API URL.
  + UnleashNotFound    - 404: no such project, flag, strategy or segment.
  + UnleashConflict    - 409: a name already taken, a segment still in use.
  + UnleashRefused     - 400, 413 and every other 4xx: the server refused the request as sent
                         (e.g. ExceedsLimitError); carries the server's own message.

Every error carries ``method``, ``path`` (the URL path, never the query or headers) and
``status`` (None when no HTTP response arrived). Messages never contain the API token: the
client scrubs it from anything the server echoes back before an error is built.
"""

from __future__ import annotations


class UnleashError(Exception):
    """Base class of every error the admin client raises."""

    def __init__(
        self,
        message: str,
        *,
        method: str,
        path: str,
        status: int | None = None,
        server_message: str | None = None,
        error_name: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.path = path
        self.status = status
        self.server_message = server_message
        self.error_name = error_name

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, method={self.method!r}, "
            f"path={self.path!r}, status={self.status!r})"
        )


class UnleashUnavailable(UnleashError):
    """No usable answer: down, unreachable, too slow, failing (5xx) or rate-limiting (429)."""


class UnleashAuthError(UnleashError):
    """The server refused the credentials (401) or their permissions (403)."""


class UnleashNotFound(UnleashError):
    """The project, flag, environment, strategy or segment does not exist (404)."""


class UnleashConflict(UnleashError):
    """The change conflicts with the server's state (409): a name taken, a segment in use."""


class UnleashRefused(UnleashError):
    """The server refused the request as sent (400, 413 or another 4xx), e.g. a limit exceeded."""
