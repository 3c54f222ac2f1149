"""Shared test configuration: Hypothesis profiles.

``dev`` (the default) keeps the fast suite fast; ``ci`` runs many more examples
of the property tests.  Pick one with ``HYPOTHESIS_PROFILE=ci pytest`` or
``pytest --hypothesis-profile=ci``.

The solver-backed property tests take seconds per hundred examples, so their
timing varies with the machine: no deadline in either profile.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("dev", deadline=None, max_examples=100, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", deadline=None, max_examples=1000, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
