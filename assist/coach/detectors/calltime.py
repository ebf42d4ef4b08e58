"""Call time and frequency at call start: an alert when the call breaks the playbook's window or
the contact budget, a warning inside the warning band, else the remaining budget for the agent."""

from __future__ import annotations

from assist.accounts import ContactHistory
from assist.coach.detectors.base import CallState, Detector
from assist.coach.dialing import candidate_zones, dial_check
from assist.coach.findings import CallTimeFinding


class CallTime(Detector):
    name = "call_time"

    def start(self, state: CallState) -> None:
        ctx, pb = state.ctx, state.pb
        if ctx.direction == "inbound":
            state.findings.call_time = CallTimeFinding(
                allowed=True, warning=False, reason=pb.text(pb.call_time.inbound_text)
            )
            return
        history = ctx.history
        if history is None and ctx.account is not None:
            history = ContactHistory.from_account(ctx.account, candidate_zones(ctx.account, pb)[0])
        if history is not None:
            history = history.before(ctx.started_at, exclude_call=ctx.call_id)
        dc = dial_check(ctx.account, history or ContactHistory(), ctx.started_at, pb)
        state.findings.call_time = CallTimeFinding(
            allowed=dc.allowed,
            warning=dc.warning,
            reason=dc.reason,
            rules=dc.rules,
            remaining=dc.remaining,
            next_allowed_at=dc.next_allowed_at,
            local_time=dc.local_time,
        )
        data = dc.model_dump(mode="json")
        if not dc.allowed:
            state.emit(
                "call_time",
                dc.reason,
                severity="critical",
                audience="both",
                rule=dc.rules[0] if dc.rules else None,
                data=data,
                key="call_time",
            )
        elif dc.warning:
            state.emit(
                "call_time",
                dc.reason,
                severity="high",
                audience="agent",
                rule=dc.rules[0] if dc.rules else None,
                data=data,
                key="call_time",
            )
        elif dc.remaining:
            state.emit(
                "call_time",
                f"{dc.reason} {dc.remaining}".strip(),
                severity="info",
                audience="agent",
                data=data,
                key="call_time",
            )
