"""Fixtures shared by the metrics tests: the session's digits classifier, trained once."""

import pytest

from ylg.metrics import cache_dir, digit_classifier, digits


@pytest.fixture(scope="session")
def classifier_cache():
    """The session's cache folder (tests/conftest.py) and its digits classifier, trained once."""
    return cache_dir(), digit_classifier(log=None)


@pytest.fixture(scope="session")
def digits_features(classifier_cache):
    _, net = classifier_cache
    images, labels = digits._digits("train")
    return images, labels, net.extractor()
