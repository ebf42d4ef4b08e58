"""Loads the fuzz suite's hypothesis profile (`ci` unless HYPOTHESIS_PROFILE says otherwise)."""

from __future__ import annotations

from tests.fuzz import profiles

profiles.load()
