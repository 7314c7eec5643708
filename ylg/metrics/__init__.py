"""Sample-quality metrics: FID, KID, precision/recall, density/coverage and the digits metrics.

Every metric compares two sets of feature vectors, ``real`` ``(n, d)`` and ``fake`` ``(m, d)``
(:mod:`ylg.metrics.distances`); a :class:`FeatureExtractor` turns images into features
(:mod:`ylg.metrics.features`). Three extractors:

- the standard FID Inception network (:mod:`ylg.metrics.inception`): TensorFlow's 2015-12-05
  Inception v3 up to its 2048-d pool, read offline and checked by its sha256. Slow on a CPU.
- any other TorchScript feature extractor (:func:`load_torchscript`), fed the images as they are.
- for the Inception Score, the same network with its 1,008-way classifier, from the
  ``pt_inception-2015-12-05`` file the user supplies (:func:`load_inception_logits`).
- the digits classifier (:mod:`ylg.metrics.digits`): a small CNN the project trains on the digits
  train split in seconds, cached; its 128-d hidden layer gives a *domain* FID and its predictions
  the class accuracy of conditional samples. Domain numbers are fast on a CPU but are **not
  comparable with published FIDs**, which all use the Inception features.

:mod:`ylg.metrics.evaluation` names the metrics and runs them on images, a generator or a
checkpoint, with one :class:`EvalSettings`.

FID is biased upwards with few samples (the bias falls roughly as ``1/n``); compare FIDs only at
the same sample count. Published numbers use 50,000 samples.
"""

from ylg.metrics.digits import DigitClassifier, class_accuracy, digit_classifier
from ylg.metrics.distances import (density_coverage, feature_statistics, fid, frechet_distance,
                                   inception_score, kid, precision_recall)
from ylg.metrics.evaluation import (DEFAULT_METRICS, METRICS, OTHER_DATA_METRICS, EvalSettings,
                                    check_domain, default_metrics, evaluate,
                                    evaluate_checkpoint, evaluate_generator, is_digits,
                                    parse_metrics, sample_images)
from ylg.metrics.features import (FeatureExtractor, MetricsError, cache_dir, cached_features,
                                  load_torchscript, real_features)
from ylg.metrics.inception import (INCEPTION_SHA256, INCEPTION_WHEEL, PT_INCEPTION_FILE,
                                   PT_INCEPTION_SHA1, inception_weights_path, load_inception,
                                   load_inception_logits)

__all__ = [
    "MetricsError", "frechet_distance", "feature_statistics", "fid", "kid", "precision_recall",
    "density_coverage", "inception_score", "FeatureExtractor", "INCEPTION_WHEEL", "INCEPTION_SHA256",
    "inception_weights_path", "load_inception", "PT_INCEPTION_FILE", "PT_INCEPTION_SHA1",
    "load_inception_logits", "load_torchscript", "DigitClassifier",
    "digit_classifier", "class_accuracy", "cache_dir", "cached_features", "real_features", "METRICS",
    "DEFAULT_METRICS", "parse_metrics", "EvalSettings", "sample_images", "evaluate",
    "evaluate_generator", "evaluate_checkpoint", "OTHER_DATA_METRICS", "is_digits",
    "default_metrics", "check_domain",
]
