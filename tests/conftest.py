"""Shared test configuration: Hypothesis profiles.

``dev`` (the default) keeps the fast suite fast; ``ci`` runs ten times as many
examples of the property tests.  Pick one with ``HYPOTHESIS_PROFILE=ci pytest``
or ``pytest --hypothesis-profile=ci``.

The solver-backed property tests vary in speed with the machine, so neither
profile has a deadline.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("dev", deadline=None, max_examples=100, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", deadline=None, max_examples=1000, suppress_health_check=[HealthCheck.too_slow])

if os.environ.get("HYPOTHESIS_PROFILE"):
    settings.load_profile(os.environ["HYPOTHESIS_PROFILE"])
elif settings.get_current_profile_name() == "default":  # --hypothesis-profile was not given
    settings.load_profile("dev")
