"""Log lines as plain text or one JSON object each (PLANNER_LOG_FORMAT), every one with its request id.

One configuration for all of the process's loggers (ours, uvicorn's, the Unleash SDK's): `planner serve` hands it
to uvicorn, which applies it in each worker. Fields given with `extra=` become keys of the JSON object.
"""

from __future__ import annotations

import logging
import logging.config
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from planner import request_id

TEXT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
# at WARNING: libraries that log each HTTP request at INFO, URL and all (a webhook's URL may carry its receiver's
# secret), the Unleash SDK (each poll, each metrics payload) and its scheduler, alembic (two lines per readiness
# check of the schema)
QUIET = ("httpx", "httpcore", "urllib3", "apscheduler", "UnleashClient", "alembic")
_secrets: set[str] = set()


def redact(*secrets: str) -> None:
    """Never let these values into a log line (the tokens and the session secret the planner was started with):
    nothing logs them knowingly, this is the net under that."""
    _secrets.update(s for s in secrets if s and len(s) >= 6)
    for secret in list(_secrets):
        if "." in secret:  # an Unleash token's secret part alone
            tail = secret.rsplit(".", 1)[-1]
            if len(tail) >= 6:
                _secrets.add(tail)


def scrubbed(text: str) -> str:
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


class Context(logging.Filter):
    """Adds the request id to each record and blanks out the secrets of `redact`."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.current()
        if _secrets:
            message = record.getMessage()
            cleaned = scrubbed(message)
            if cleaned != message:
                record.msg, record.args = cleaned, None
        return True


class TextLines(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(TEXT)

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "request_id", None) is None:
            record.request_id = "-"
        return super().format(record)


class JsonLines(JsonFormatter):
    """`{"time", "level", "logger", "message", "request_id", ...extra}` on one line."""

    def __init__(self) -> None:
        super().__init__("%(levelname)s %(name)s %(message)s", timestamp="time",
                         rename_fields={"levelname": "level", "name": "logger"},
                         reserved_attrs=[*RESERVED_ATTRS, "color_message"])  # uvicorn's copy with terminal colours


def config(log_format: str) -> dict[str, Any]:
    """The `logging.config.dictConfig` of the process: everything to standard error, at INFO."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": f"{__name__}.Context"}},
        "formatters": {"line": {"()": f"{__name__}.{'JsonLines' if log_format == 'json' else 'TextLines'}"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "formatter": "line",
                                "filters": ["context"]}},
        "root": {"level": "INFO", "handlers": ["stderr"]},
        # uvicorn's own lines go through the same handler; its access log is off (the app writes one line per
        # request, with the route and the request id: web/observe.py)
        "loggers": {"uvicorn": {"level": "INFO", "handlers": [], "propagate": True},
                    "uvicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
                    "uvicorn.access": {"level": "WARNING", "handlers": [], "propagate": True},
                    **{name: {"level": "WARNING"} for name in QUIET}},
    }


def configure(log_format: str) -> None:
    logging.config.dictConfig(config(log_format))
