"""What every `planner` command shares: the settings, the consoles, and errors as one message and an exit code."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console

from cli.errors import exit_code, message
from flags.errors import UnleashError
from planner.errors import PlannerError
from services.settings import Settings

# The arguments most commands take, with the help a newcomer needs (`planner plan list` shows the keys)
PlanKey = Annotated[str, typer.Argument(metavar="PLAN", help="the plan's key, e.g. intranet-rollout")]
PhaseKey = Annotated[str, typer.Argument(metavar="PHASE", help="the phase's key, e.g. wave-1 (`planner phase list PLAN`)")]

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def settings() -> Settings:
    return Settings()


def database_url() -> str:
    return settings().database_url


def fail(text: str, code: int = 1) -> typer.Exit:
    from rich.text import Text

    err.print(Text.assemble(("error:", "red"), " ", text), highlight=False)  # the message as is, never markup
    return typer.Exit(code)


@contextmanager
def reported():
    """Every command's domain and Unleash errors become one message and an exit code, never a traceback."""
    try:
        yield
    except (PlannerError, UnleashError) as exc:
        raise fail(message(exc), exit_code(exc)) from None
