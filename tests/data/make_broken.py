"""Regenerate the mask-file corpus in this folder: one valid file and one file per defect.

Run from the repository root: ``python tests/data/make_broken.py``. Each broken file is the valid
one with a single field changed, so that its load error names exactly that field.
"""

import os

import numpy as np

from ifg.io import save
from ifg.maskset import preset

HERE = os.path.dirname(os.path.abspath(__file__))


def _write(name, arrays):
    with open(os.path.join(HERE, name), "wb") as f:
        np.savez_compressed(f, **arrays)


def main():
    good = os.path.join(HERE, "masks_good.npz")
    # the paper's 8 heads on a 2x2 key grid, 4x4 queries: the smallest layer with every field
    save(preset("ylg", key_grid=(2, 2), query_grid=(4, 4)), good)
    with np.load(good, allow_pickle=False) as f:
        base = {k: f[k] for k in f.files}

    def variant(name, **changes):
        arrays = dict(base)
        for key, value in changes.items():
            if value is None:
                del arrays[key]
            else:
                arrays[key] = value
        _write(name, arrays)

    with open(good, "rb") as f:
        data = f.read()
    with open(os.path.join(HERE, "masks_truncated.npz"), "wb") as f:
        f.write(data[: len(data) // 2])
    # the zip directory intact, one member's compressed bytes overwritten
    with open(os.path.join(HERE, "masks_corrupt.npz"), "wb") as f:
        f.write(data[:200] + bytes(64) + data[264:])
    with open(os.path.join(HERE, "masks_not_zip.npz"), "wb") as f:
        f.write(b"query,key\n0,0\n")

    indptr, indices = base["mask_indptr"], base["mask_indices"]
    variant("masks_missing_field.npz", mask_indices=None)
    variant("masks_unknown_version.npz", format_version=np.array(99))
    variant("masks_wrong_dtype.npz", mask_indices=indices.astype(np.float64))
    variant("masks_wrong_shape.npz", mask_indptr=indptr[:, :-1])
    out = indices.copy()
    out[0] = 4  # the key grid has 4 positions: 0..3
    variant("masks_index_out_of_range.npz", mask_indices=out)
    # head 0, query row 0 loses its keys; the file stays consistent otherwise
    first = int(indptr[0, 1])
    empty = indptr.copy()
    empty[0, 1:] -= first  # each head's pointers count from 0 into its own indices
    variant("masks_empty_row.npz", mask_indptr=empty, mask_indices=indices[first:])
    # a row with two keys, written in falling order
    row = int(np.argmax(np.diff(indptr[0]) >= 2))
    swapped = indices.copy()
    a = int(indptr[0, row])
    swapped[a], swapped[a + 1] = swapped[a + 1], swapped[a]
    variant("masks_unsorted_indices.npz", mask_indices=swapped)
    variant("masks_bad_group.npz", group_heads=np.where(base["group_heads"] == 7, 8,
                                                        base["group_heads"]))
    variant("masks_bad_tiling.npz", tiling=np.array("diagonal"))
    variant("masks_pickled.npz", head_pattern=np.array(list(base["head_pattern"]), dtype=object))


if __name__ == "__main__":
    main()
