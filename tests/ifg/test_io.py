"""The mask file: exact round trips, the paper's size budget, and one clear error per defect."""

import os
import re

import numpy as np
import pytest
import scipy.sparse as sp

from ifg.errors import InvalidArgument, MaskFileError
from ifg.io import FIELDS, FORMAT_VERSION, load, save
from ifg.maskset import MaskSet, Head, layer, parse_heads, preset

DATA = os.path.join(os.path.dirname(__file__), os.pardir, "data")
DOC = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "docs", "mask-format.md")


def assert_same(a, b):
    assert a.query_grid == b.query_grid and a.key_grid == b.key_grid
    assert a.enumeration == b.enumeration and a.tiling == b.tiling
    assert a.heads == b.heads and a.groups == b.groups
    assert len(a.masks) == len(b.masks)
    for x, y in zip(a.masks, b.masks):
        assert x.shape == y.shape and x.dtype == y.dtype == bool
        assert (x != y).nnz == 0


@pytest.mark.parametrize("make", [
    lambda: preset("ylg", key_grid=(4, 4), query_grid=(8, 8)),
    lambda: preset("ylg-no-esa", key_grid=(4, 4), query_grid=(8, 8)),
    lambda: preset("ylg", key_grid=(4, 4), query_grid=(8, 8), tiling="aligned"),
    lambda: preset("ylg", key_grid=(3, 3)),
    lambda: layer(parse_heads("ltr:1,ltr:2,fixed:1,strided:1,strided:2"), key_grid=(4, 4),
                  query_grid=(8, 4), enumeration="snake"),
], ids=["ylg", "no-esa", "aligned", "square", "custom"])
def test_save_then_load_round_trips_exactly(tmp_path, make):
    ms = make()
    path = tmp_path / "masks.npz"
    save(ms, path)
    assert_same(load(path), ms)


def test_save_writes_the_path_as_given_and_leaves_no_temporary_file(tmp_path):
    save(preset("ylg", key_grid=(2, 2)), tmp_path / "layer.masks")
    assert os.listdir(tmp_path) == ["layer.masks"]


def test_paper_layer_at_128_queries_and_64_keys_is_under_10_mb(tmp_path):
    ms = preset("ylg", key_grid=(64, 64), query_grid=(128, 128))
    path = tmp_path / "masks.npz"
    save(ms, path)
    assert os.path.getsize(path) < 10_000_000
    assert load(path).masks[3].nnz == ms.masks[3].nnz


def test_the_committed_valid_file_still_loads():
    ms = load(os.path.join(DATA, "masks_good.npz"))
    assert_same(ms, preset("ylg", key_grid=(2, 2), query_grid=(4, 4)))


# each broken file of tests/data (see make_broken.py) and the field its message must name
BROKEN = {
    "masks_truncated.npz": "not an npz",
    "masks_corrupt.npz": "truncated or corrupt",
    "masks_not_zip.npz": "not an npz",
    "masks_missing_field.npz": "missing field 'mask_indices'",
    "masks_unknown_version.npz": "'format_version' is 99",
    "masks_wrong_dtype.npz": "'mask_indices' has dtype float64",
    "masks_wrong_shape.npz": "'mask_indptr' has shape (8, 16), expected (8, 17)",
    "masks_index_out_of_range.npz": "'mask_indices' holds key 4",
    "masks_empty_row.npz": "head 0, query row 0 allows no key",
    "masks_unsorted_indices.npz": "'mask_indices' is not sorted",
    "masks_bad_group.npz": "'group_heads' names head 8",
    "masks_bad_tiling.npz": "'tiling' is 'diagonal'",
    "masks_pickled.npz": "'head_pattern' holds Python objects",
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_each_broken_file_raises_one_error_naming_its_field(name):
    path = os.path.join(DATA, name)
    with pytest.raises(MaskFileError) as err:
        load(path)
    message = str(err.value)
    assert BROKEN[name] in message
    assert message.startswith(path) and "\n" not in message


def test_the_corpus_is_complete():
    on_disk = {f for f in os.listdir(DATA) if f.endswith(".npz")}
    assert on_disk == set(BROKEN) | {"masks_good.npz"}


def _rewrite(tmp_path, **changes):
    with np.load(os.path.join(DATA, "masks_good.npz"), allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    arrays.update(changes)
    path = tmp_path / "changed.npz"
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)
    return path


def test_a_group_that_is_not_the_steps_of_one_pattern_is_refused(tmp_path):
    # heads 0 and 2 are both rtl step 1
    path = _rewrite(tmp_path, group_heads=np.array([0, 2, 1, 3, 4, 5, 6, 7]))
    with pytest.raises(MaskFileError, match="'group_heads': group 0"):
        load(path)


def test_a_mask_that_breaks_its_tiling_is_refused(tmp_path):
    with np.load(os.path.join(DATA, "masks_good.npz"), allow_pickle=False) as f:
        indptr, indices = f["mask_indptr"], f["mask_indices"]
    # swap two query rows of head 0 that tile different key rows: still a valid CSR, but
    # query q no longer uses key row q mod Nk
    nnz = indptr[0, -1]
    m = sp.csr_matrix((np.ones(nnz, bool), indices[:nnz], indptr[0]), shape=(16, 4))
    order = np.arange(16)
    order[[0, 1]] = [1, 0]
    assert (m[0] != m[1]).nnz  # rtl step 1: query 0 sees keys {0, 1}, query 1 only {1}
    m = m[order]
    path = _rewrite(tmp_path, mask_indptr=np.vstack([m.indptr[None], indptr[1:]]),
                    mask_indices=np.concatenate([m.indices, indices[indptr[0, -1]:]]))
    with pytest.raises(MaskFileError, match="'tiling' is 'official', but head 0"):
        load(path)


def test_a_newer_version_is_refused_before_any_other_field(tmp_path):
    path = _rewrite(tmp_path, format_version=np.array(FORMAT_VERSION + 1),
                    mask_indices=np.zeros(3))
    with pytest.raises(MaskFileError, match="format_version"):
        load(path)


def test_fields_a_reader_does_not_know_are_ignored(tmp_path):
    path = _rewrite(tmp_path, comment=np.array("made by hand"))
    assert load(path).num_heads == 8


def test_a_missing_file_and_a_folder_are_named(tmp_path):
    with pytest.raises(MaskFileError, match="no such file"):
        load(tmp_path / "absent.npz")
    with pytest.raises(MaskFileError, match="folder"):
        load(tmp_path)


def test_fixed_step_2_cannot_be_saved_its_first_queries_attend_nothing(tmp_path):
    # fixed step 2 lets query i attend only block ends j <= i: queries 0..s-2 have none
    ms = layer((("fixed", 2),), key_grid=(3, 3))
    with pytest.raises(InvalidArgument, match="head 0, query row 0 allows no key"):
        save(ms, tmp_path / "fixed.npz")


def test_save_refuses_a_mask_set_with_a_query_that_attends_nothing(tmp_path):
    mask = sp.csr_matrix(np.array([[1, 0], [0, 0]], dtype=bool))
    ms = MaskSet((mask,), (1, 2), (1, 2), "rowmajor", "official", (Head("custom", 1),), ())
    with pytest.raises(InvalidArgument, match="query row 1 allows no key"):
        save(ms, tmp_path / "x.npz")
    assert not os.listdir(tmp_path)


def test_every_field_is_documented():
    doc = open(DOC).read()
    documented = set(re.findall(r"^\| `(\w+)`", doc, flags=re.M))
    assert documented == set(FIELDS)
