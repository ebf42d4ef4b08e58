"""structlog set-up: pretty lines in a terminal, JSON otherwise; card and ID numbers never logged raw."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

# 15-19 digit runs (bank cards), and 17 digits + digit/X (PRC resident ID numbers)
_LONG_NUMBER = re.compile(r"(?<!\d)(\d{6})\d{5,9}(\d{4}|\d{3}[Xx])(?!\d)")


def redact(text: str) -> str:
    """Mask long digit runs (ID and card numbers), keeping the first 6 and last 4."""
    return _LONG_NUMBER.sub(lambda m: f"{m.group(1)}****{m.group(2)}", text)


def _redact_processor(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in event_dict.items():
        if isinstance(value, str):
            event_dict[key] = redact(value)
    return event_dict


def configure(fmt: str = "auto", level: str = "INFO") -> None:
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: Any = structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    logging.basicConfig(stream=sys.stderr, level=level.upper(), format="%(message)s")
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact_processor,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def get(name: str, **bound: Any) -> Any:
    """A lazy logger: it follows `configure()` even when created at import time."""
    return structlog.get_logger(name, **bound)
