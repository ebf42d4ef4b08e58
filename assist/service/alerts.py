"""Alerts the service raises about itself (not the coach's findings): what supervisors must see when a part of
the service failed a call."""

from __future__ import annotations

from assist.events import Prompt


def summary_failed(call_id: str, exc: BaseException, *, at_startup: bool = False) -> Prompt:
    """A call's summary could not be written: it will not reach the CRM until someone looks."""
    when = "after the restart" if at_startup else "at call end"
    return Prompt(
        call_id=call_id,
        kind="summary_failed",
        severity="high",
        audience="supervisor",
        text=f"The call's summary could not be written {when} and will not reach the CRM until this is fixed.",
        data={"error": type(exc).__name__, "at_startup": at_startup},
    )
