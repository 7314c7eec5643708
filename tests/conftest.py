import os

import pytest
from hypothesis import HealthCheck, settings

# CI machines are shared and slow: no per-example deadline, a bounded number of examples.
settings.register_profile("ci", deadline=None, max_examples=60,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, max_examples=40,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def pytest_configure(config):
    """One torch thread in the test process (tests that are about threads set their own and
    restore it): on a shared two-core machine more threads only make the suite slower."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session", autouse=True)
def _ylg_cache(tmp_path_factory):
    """Metrics cache real features and the digits classifier: in a folder of this session's own,
    never the user's ~/.cache/ylg (one classifier training serves the whole session)."""
    patch = pytest.MonkeyPatch()
    patch.setenv("YLG_CACHE", str(tmp_path_factory.mktemp("ylg-cache")))
    yield
    patch.undo()
