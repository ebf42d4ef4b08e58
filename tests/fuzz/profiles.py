"""Hypothesis profiles of the fuzz suite.

* `ci` (the default under pytest): few examples per test and derandomized, so a CI run is bounded
  (the whole suite adds well under 90 s on two shared cores) and reproducible;
* `dev`: more examples, random seed, for a developer hunting locally (HYPOTHESIS_PROFILE=dev);
* `long`: used by `bench/fuzz.py`, which sets max_examples itself per ingress.

No example database: CI must not depend on what a previous run found (regressions get explicit tests).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# Strategies build multi-message scripts, some with huge strings: the size/speed health checks only say
# "this strategy is big", which is the point of fuzzing.
_SUPPRESS = [
    HealthCheck.too_slow,
    HealthCheck.data_too_large,
    HealthCheck.filter_too_much,
    HealthCheck.function_scoped_fixture,
]

settings.register_profile(
    "ci",
    max_examples=60,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=_SUPPRESS,
    print_blob=True,
)
settings.register_profile(
    "dev", max_examples=500, deadline=None, database=None, suppress_health_check=_SUPPRESS, print_blob=True
)
settings.register_profile(
    "long", max_examples=100_000, deadline=None, database=None, suppress_health_check=_SUPPRESS, print_blob=True
)


def load() -> None:
    """Load the profile named by HYPOTHESIS_PROFILE (default `ci`)."""
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
