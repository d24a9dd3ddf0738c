"""Saving an edit of ``config.toml`` from a page, and telling the user how it went."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request

from scheduler.config_edit import Edit, Saved, edit_config
from scheduler.config_problems import Problem
from scheduler.errors import ConfigEditError, ConfigError
from scheduler.web.pages.common import session_of, site_of
from scheduler.web.site import Site


@dataclass(frozen=True, slots=True)
class SaveFailure:
    """Why nothing was written."""

    message: str
    hint: str | None = None
    problems: list[Problem] = field(default_factory=list)


async def try_save(site: Site, edit: Edit, version: str | None) -> Saved | SaveFailure:
    """Apply ``edit`` to the config file if the result passes ``check``; then the service
    reloads it."""
    async with site.saving:
        try:
            saved = await site.blocking(
                edit_config, site.config.path, edit, expected_version=version or None
            )
        except ConfigError as exc:
            return SaveFailure(
                "Not saved: the configuration would not pass `newswatch check`.",
                problems=exc.problems,
            )
        except ConfigEditError as exc:
            return SaveFailure(f"Not saved: {exc.message}.", exc.hint)
        site.on_config_saved()
    return saved


async def save_config(request: Request, edit: Edit, version: str | None) -> Saved | None:
    """:func:`try_save`, reporting the outcome as messages on the next page."""
    outcome = await try_save(site_of(request), edit, version)
    session = session_of(request)
    if isinstance(outcome, SaveFailure):
        details = [outcome.message, *(str(p) for p in outcome.problems)]
        if outcome.hint:
            details.append(outcome.hint)
        session.say(" ".join(details), "error")
        return None
    for warning in outcome.warnings:
        session.say(f"warning: {warning}", "warning")
    return outcome
