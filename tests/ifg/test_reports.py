"""ifg.reports: what ylg-masks prints and writes, reachable without click."""

import json

import pytest

import ifg
from ifg.errors import InvalidArgument
from ifg.reports import check_mask_file, layer_masks, mask_figure, output_kind, write_result


def test_a_mask_file_check_has_one_report_per_group(tmp_path):
    path = tmp_path / "m.npz"
    ifg.save(layer_masks(preset_name="ylg", query_grid=(8, 8), key_grid=(4, 4)), path)
    result = check_mask_file(path)
    assert result.holds and len(result.groups) == len(result.maskset.groups) > 0
    assert result.to_dict()["groups"][0]["report"]["full_information"] is True
    assert result.summary().endswith(f"{len(result.groups)} of {len(result.groups)} group(s) "
                                     "have Full Information")


@pytest.mark.parametrize("kw, message", [
    ({}, "give one of --preset NAME or --heads"),
    ({"preset_name": "ylg", "heads": "ltr:1,ltr:2"}, "give one of --preset NAME or --heads"),
    ({"preset_name": "ylg", "enumeration": "rowmajor"}, "a preset fixes its enumeration"),
])
def test_layer_masks_refuses_ambiguous_requests(kw, message):
    with pytest.raises(InvalidArgument, match=message):
        layer_masks(query_grid=(8, 8), key_grid=(4, 4), **kw)


def test_a_result_is_written_by_its_suffix(tmp_path):
    p = ifg.pattern("ltr", 16)
    write_result(tmp_path / "r.json", {"a": 1}, p)
    assert json.loads((tmp_path / "r.json").read_text()) == {"a": 1}
    write_result(tmp_path / "r.npz", {}, p)
    assert ifg.load(tmp_path / "r.npz").query_grid == (8, 8)  # twice the pattern's grid
    with pytest.raises(InvalidArgument, match="must end in .npz"):
        output_kind(tmp_path / "r.txt")
    with pytest.raises(InvalidArgument, match="no pattern with Full Information"):
        write_result(tmp_path / "none.npz", {}, None)


def test_mask_figure_refuses_pattern_panels_without_a_pattern():
    with pytest.raises(InvalidArgument, match="need --pattern"):
        mask_figure(what="masks")
    assert len(mask_figure("ltr", 9).axes) >= 2


def test_format_blocks_one_clause_per_step():
    from ifg.blocks import block_counts
    from ifg.reports import format_blocks

    text = format_blocks(block_counts(ifg.pattern("swin:window=4", grid=(8, 8)), 16), 16,
                         "rowmajor")
    assert text.count("computes") == 2 and "step 1 computes 8 of 16" in text
