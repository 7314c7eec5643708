"""File-system refusals reach the user as one line naming the path, exit 2, no traceback."""

import os

import pytest
import torch

from click.testing import CliRunner

from ylg_cli.main import main as ylg
from ylg_cli.masks import main as ylg_masks


def _run(program, *args):
    return CliRunner().invoke(program, [str(a) for a in args])


def _one_line_error(result, *parts):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and result.output.strip().endswith(errors[0]), result.output
    for part in parts:
        assert part in errors[0], result.output


def test_an_output_under_a_regular_file_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = _run(ylg_masks, "export", "--preset", "ylg", "--key-grid", "4x4",
                  "-o", blocker / "masks.npz")
    _one_line_error(result, str(blocker))


def test_a_train_out_that_is_a_file_is_one_line_and_the_file_is_kept(tmp_path):
    blocker = tmp_path / "run"
    blocker.write_text("keep me")
    result = _run(ylg, "train", "--steps", "1", "--width", "8", "--batch-size", "4",
                  "--quiet", "--device", "cpu", "--out", blocker)
    _one_line_error(result, str(blocker))
    assert blocker.read_text() == "keep me"


def test_a_fifo_as_a_mask_file_is_refused_at_once(tmp_path):
    fifo = tmp_path / "m.npz"
    os.mkfifo(fifo)
    result = _run(ylg_masks, "check", "--masks", fifo)
    _one_line_error(result, "not a regular file")


def test_an_unknown_image_suffix_is_one_line_and_writes_nothing(tmp_path):
    from ylg.viz import save_image

    from ylg.errors import InvalidArgument

    with pytest.raises(InvalidArgument, match=r"g\.xyz.*unknown image suffix"):
        save_image(torch.zeros(1, 8, 8), tmp_path / "new" / "g.xyz")
    assert not (tmp_path / "new").exists()


def test_torch_running_out_of_memory_is_one_line_and_other_runtime_errors_are_bugs(monkeypatch):
    import ylg.sample as sampling

    def no_memory(*args, **kwargs):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: not "
                           "enough memory: you tried to allocate 1099511627776 bytes.")

    monkeypatch.setattr(sampling, "load_generator", no_memory)
    result = _run(ylg, "sample", "--checkpoint", "any.pt", "-o", "x.png")
    _one_line_error(result, "out of memory", "use a smaller size")

    def gpu(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(sampling, "load_generator", gpu)
    _one_line_error(_run(ylg, "sample", "--checkpoint", "any.pt", "-o", "x.png"),
                    "out of memory", "CUDA out of memory")

    def bug(*args, **kwargs):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    monkeypatch.setattr(sampling, "load_generator", bug)
    result = _run(ylg, "sample", "--checkpoint", "any.pt", "-o", "x.png")
    assert result.exit_code == 1 and isinstance(result.exception, RuntimeError)


@pytest.mark.parametrize("program, args, part, command", [
    (ylg, ["trian"], "No such command 'trian'", ""),
    (ylg, ["--thread", "1", "train"], "No such option '--thread'", ""),
    (ylg, ["interpolate", "--checkpoint", "x.pt", "--class", "3", "--rows", "two",
           "-o", "w.png"], "'--rows'", " interpolate"),
    (ylg, ["export", "--checkpoint", "x.pt", "-o", "g.pt"], "must end in .safetensors",
     " export"),
    (ylg_masks, ["check", "--n", "9"], "give --pattern and --n", " check"),
    (ylg_masks, ["export"], "Missing option '-o'", " export"),
    # seeds: numpy refuses negative ones and torch those of 2**64 and more, with a traceback
    (ylg_masks, ["search", "--n", "16", "--seconds", "1", "--seed", "-1"], "'--seed'",
     " search"),
    (ylg, ["evaluate", "--checkpoint", "x.pt", "--seed", "-1"], "'--seed'", " evaluate"),
    (ylg, ["sample", "--checkpoint", "x.pt", "--seed", str(10**20), "-o", "g.png"], "'--seed'",
     " sample"),
    (ylg, ["invert", "--checkpoint", "x.pt", "--sample", "-2", "-o", "inv"], "'--sample'",
     " invert"),
])
def test_a_usage_error_is_one_line_that_names_the_help(program, args, part, command):
    """Not click's usage, hint and error (four lines): the error and the help to read."""
    result = _run(program, *args)
    assert result.exit_code == 2, result.output
    assert result.output.splitlines() == [result.output.strip()], result.output  # no usage block
    assert result.output.startswith("Error: ") and part in result.output, result.output
    assert result.output.strip().endswith(f"{command} --help')"), result.output


def test_no_command_still_shows_the_help():
    result = _run(ylg)
    assert result.output.startswith("Usage: ") and "Commands:" in result.output
