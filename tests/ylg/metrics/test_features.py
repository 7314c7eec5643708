"""ylg.metrics.features: the real-feature cache."""

import numpy as np
import torch

from ylg.metrics import FeatureExtractor, features, real_features


# --------------------------------------------------------------------------------- caches


def _counting_extractor():
    calls = []

    def network(x):
        calls.append(len(x))
        return x.flatten(1)

    return FeatureExtractor("count", network, features.model_range, torch.device("cpu")), calls


def test_real_features_are_cached_per_data_and_extractor(tmp_path):
    ex, calls = _counting_extractor()
    images = torch.randint(0, 256, (5, 1, 2, 2), dtype=torch.uint8)
    first = real_features(ex, images, dataset="toy", cache=tmp_path)
    again = real_features(ex, images, dataset="toy", cache=tmp_path)
    assert np.array_equal(first, again) and calls == [5]
    real_features(ex, images[:4], dataset="toy", cache=tmp_path)  # other data: other entry
    assert calls == [5, 4]
    (entry,) = [p for p in (tmp_path / "features").iterdir() if "toy" in p.name and
                np.load(p).shape[0] == 5]
    entry.write_bytes(b"corrupt")
    assert np.array_equal(real_features(ex, images, dataset="toy", cache=tmp_path), first)
    assert calls == [5, 4, 5]
