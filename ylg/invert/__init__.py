"""Inversion: find ``z`` such that ``G(z, y)`` matches a real image, and the jobs around it.

- :mod:`ylg.invert.optimise`: the three objectives and Adam over ``z`` (:func:`invert`);
- the :class:`Budget` (the published settings) lives, torch-free, in :mod:`ylg.config`;
- :mod:`ylg.invert.saliency`: the saliency of D's attention heads (the ``ylg`` loss's weights);
- :mod:`ylg.invert.similarity`: PSNR and SSIM, the scores;
- :mod:`ylg.invert.targets`: where a target comes from (a file, a held-out image of the model's
  data, a generated sample) and the class it is inverted for;
- :mod:`ylg.invert.jobs`: jobs over a checkpoint (a folder of results, the attention-map figure).

>>> from ylg.invert import METHODS, PUBLISHED
>>> METHODS, PUBLISHED.steps
(('pixel', 'discriminator', 'ylg'), 1000)
"""

from ylg.config import PUBLISHED, Budget
from ylg.invert.jobs import (attention_map_figure, attention_map_line, draw_attention_map,
                             invert_to_folder, inversion_lines, load_models, parse_head_indices,
                             parse_query, score)
from ylg.invert.optimise import (METHODS, Inversion, check_inversion_memory, feature_distance,
                                 invert)
from ylg.invert.saliency import (MASK_LIKE, attention_uniformity, default_heads,
                                 discriminator_saliency, key_counts, map_difference,
                                 mask_deviation, mask_note, saliency_maps,
                                 uniform_saliency)
from ylg.invert.similarity import psnr, ssim
from ylg.invert.targets import class_index, generated_target, held_out, load_image, target_image

__all__ = ["METHODS", "Budget", "PUBLISHED", "Inversion", "invert", "feature_distance",
           "check_inversion_memory", "default_heads", "key_counts", "saliency_maps",
           "discriminator_saliency", "uniform_saliency", "map_difference", "mask_deviation",
           "mask_note", "attention_uniformity", "MASK_LIKE", "psnr", "ssim", "score",
           "load_image", "load_models", "class_index", "held_out", "target_image",
           "generated_target", "invert_to_folder",
           "parse_head_indices", "parse_query", "draw_attention_map", "attention_map_figure",
           "inversion_lines", "attention_map_line"]
