"""Where an inversion's target comes from: an image file, a held-out image of the model's own
data, or a sample generated from a known latent; and the class it is inverted for.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import torch

from ifg.errors import InvalidArgument
from ylg.errors import DataError
from ylg.invert.optimise import classes_to_try, resolution_of
from ylg.sample import parse_class

if TYPE_CHECKING:
    from ylg.data import ImageData
    from ylg.models.sagan import Generator

__all__ = ["Label", "load_image", "class_index", "held_out", "target_image", "generated_target"]

#: the class of an inversion's target: a class (its index, or its name among the checkpoint's
#: ``class_names``), None (try every class), or "own" (the target's)
Label = int | str | None


def load_image(path: str | os.PathLike[str], *, resolution: int,
               channels: int) -> tuple[torch.Tensor, list[str]]:
    """One image file as the model sees it: ``(x (1, c, res, res) in [-1, 1], notes)``.

    Centre-cropped to a square and resized (bicubic) when its size differs; a grey image for a
    colour model (or the reverse) is converted, and the notes say so.

    Raises
    ------
    DataError
        When the file is missing or not a readable image.

    Examples
    --------
    >>> import tempfile, PIL.Image
    >>> p = Path(tempfile.mkdtemp()) / "a.png"
    >>> PIL.Image.new("RGB", (40, 30), "white").save(p)
    >>> x, notes = load_image(p, resolution=32, channels=1)
    >>> tuple(x.shape), x.max().item(), len(notes)
    ((1, 1, 32, 32), 1.0, 2)
    """
    from PIL import UnidentifiedImageError

    from ylg.data import decode_image, to_model_range

    path = Path(path)
    if not path.is_file():
        from ylg.run.files import why_not_a_file

        raise DataError(f"image {str(path)!r} {why_not_a_file(path)}")
    try:
        a, size, grey = decode_image(path, resolution, channels)
    except (OSError, UnidentifiedImageError, ValueError) as e:
        raise DataError(f"cannot read image {str(path)!r}: {type(e).__name__}: {e}") from None
    notes = []
    if size != (resolution, resolution):
        notes.append(f"the image is {size[0]}x{size[1]}; centre-cropped and resized to the "
                     f"model's {resolution}x{resolution}")
    if grey and channels == 3:
        notes.append("the image is grey and the model colour: grey replicated to RGB")
    elif not grey and channels == 1:
        notes.append("the image is colour and the model grey: converted to grey (luma)")
    return to_model_range(torch.from_numpy(a)[None]), notes


def class_index(label: Label, num_classes: int, names: Sequence[str] | None = None
                ) -> int | Literal["own"] | None:
    """A :data:`Label` with a class name replaced by its index (``names``: a checkpoint's
    ``class_names``), checked; None and ``"own"`` as given.

    Raises
    ------
    InvalidArgument
        For an unknown name, an index outside ``0..num_classes - 1``, or more than one class.

    Examples
    --------
    >>> names = ["zero", "one", "two"]
    >>> class_index("two", 3, names), class_index(1, 3, names), class_index("own", 3, names)
    (2, 1, 'own')
    """
    if label is None or label == "own":
        return "own" if label == "own" else None
    return parse_class(label, num_classes, names)


def held_out(data: str, *, resolution: int, channels: int) -> ImageData:
    """The held-out images of a model's training data (``config["data"]``), which a test index
    indexes: the digits' test split, or the photographs' (:mod:`ylg.data.photographs`). Other data (a
    folder, an ``.npz``) keep none, and are refused.

    Raises
    ------
    InvalidArgument
        For data without a held-out split, saying how to give the image instead.

    Examples
    --------
    >>> held_out("digits", resolution=8, channels=1).source
    'digits:test'
    """
    from ylg.data import load_data

    if str(data) in ("digits", "photos"):
        return load_data(str(data), resolution=resolution, split="test", channels=channels)
    raise InvalidArgument(f"test_index indexes the held-out images of the model's own data, and "
                          f"its data {str(data)!r} keep none (the digits and photos do): give "
                          "the image itself (--image FILE)")


def target_image(G: Generator, *, image: str | os.PathLike[str] | None = None,
                 test_index: int | None = None, data: str = "digits"
                 ) -> tuple[torch.Tensor, int | None, str, list[str]]:
    """The target of an inversion: an image file or a held-out image of the model's data.

    ``data`` is the data the model trained on (its checkpoint's ``config["data"]``): a test
    index indexes their held-out images (:func:`held_out`), at the model's channels.

    Returns
    -------
    (torch.Tensor (1, c, res, res), int or None, str, list of str)
        The image in [-1, 1], its true class (held-out images only), where it came from, and
        notes.
    """
    from ylg.data import to_model_range

    res = resolution_of(G)
    if (image is None) == (test_index is None):
        raise InvalidArgument("give exactly one of image and test_index")
    if image is not None:
        x, notes = load_image(image, resolution=res, channels=G.channels)
        return x, None, str(image), notes
    test = held_out(data, resolution=res, channels=G.channels)
    if isinstance(test_index, bool) or not isinstance(test_index, int) or \
            not 0 <= test_index < len(test):
        raise InvalidArgument(f"test_index must lie in 0..{len(test) - 1} (the {test.source} "
                              f"split), got {test_index!r}")
    if test.channels != G.channels:  # the loaders convert; a mismatch is a bug, said plainly
        raise InvalidArgument(f"{test.source} has {test.channels} channel(s), the model "
                              f"{G.channels}")
    x = to_model_range(test.images[test_index:test_index + 1])
    return x, int(test.labels[test_index]), f"{test.source}[{test_index}]", []


@torch.no_grad()
def generated_target(G: Generator, *, seed: int, label: int | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A sample of G whose latent is known: the target of a self-inversion (as published).

    The latent is a standard normal draw seeded by ``seed`` (on the CPU, so any device gives the
    same sample); the class is ``label`` (default 0).

    Returns
    -------
    (torch.Tensor (1, c, res, res), torch.Tensor (1, z_dim), torch.Tensor int64 (1,))
        The image in [-1, 1] on the CPU, its latent and its class.

    Examples
    --------
    >>> from ylg.models import Generator
    >>> G = Generator(resolution=32, width=4, channels=1, attention="none").eval()
    >>> x, z, y = generated_target(G, seed=3, label=7)
    >>> tuple(x.shape), tuple(z.shape), y.tolist()
    ((1, 1, 32, 32), (1, 128), [7])
    """
    y = classes_to_try(0 if label is None else label, 1, G.num_classes).reshape(1)
    z = torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(seed))
    dev = next(G.parameters()).device
    return G(z.to(dev), y.to(dev)).cpu(), z, y
