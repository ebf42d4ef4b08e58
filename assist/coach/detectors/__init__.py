"""The coach's detectors, one module each; `default_detectors()` gives them in the order they run."""

from __future__ import annotations

from assist.coach.detectors.account_card import AccountCard
from assist.coach.detectors.base import CallContext, CallState, Detector, SegmentView
from assist.coach.detectors.calltime import CallTime
from assist.coach.detectors.compliance import Compliance
from assist.coach.detectors.disclosure import Disclosure
from assist.coach.detectors.payment import PaymentChannel
from assist.coach.detectors.promise import PlanHelper, PromiseToPay
from assist.coach.detectors.risk import Risk
from assist.coach.detectors.sensitive import SensitiveData, mask_segment
from assist.coach.detectors.signals import CustomerSignals
from assist.coach.detectors.temperament import Temperament

__all__ = [
    "AccountCard",
    "CallContext",
    "CallState",
    "CallTime",
    "Compliance",
    "CustomerSignals",
    "Detector",
    "Disclosure",
    "PaymentChannel",
    "PlanHelper",
    "PromiseToPay",
    "Risk",
    "SegmentView",
    "SensitiveData",
    "Temperament",
    "default_detectors",
    "mask_segment",
]


def default_detectors() -> list[Detector]:
    """Customer-side state first (who is on the line), then agent-side checks, then the rest."""
    return [
        CallTime(),
        AccountCard(),
        SensitiveData(),
        CustomerSignals(),
        Compliance(),
        PaymentChannel(),
        Disclosure(),
        Temperament(),
        Risk(),
        PromiseToPay(),
        PlanHelper(),
    ]
