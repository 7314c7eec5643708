"""What the command lines print for hostile sizes, settings and environments: one line, exit 2,
the parameter named as typed, nothing left behind."""

import pytest
from click.testing import CliRunner

import ylg.train
from ylg_cli.errors import out_of_memory
from ylg_cli.main import main as ylg_main
from ylg_cli.masks import main as ylg_masks

#: torch 2.13's CPU allocator, as `ylg sample --n 100000000` met it
CANT_ALLOCATE = ("[enforce fail at alloc_cpu.cpp:121] data. DefaultCPUAllocator: can't allocate "
                 "memory: you tried to allocate 409600000000 bytes. Error code 12 (Cannot "
                 "allocate memory)")


def _run(program, *args, **kw):
    return CliRunner().invoke(program, [str(a) for a in args], **kw)


def _one_line_error(result, *parts):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and result.output.strip().endswith(errors[0]), result.output
    for part in parts:
        assert part in errors[0], result.output
    return errors[0]


def test_torch_2_13s_allocator_message_is_out_of_memory():
    assert out_of_memory(RuntimeError(CANT_ALLOCATE))


def test_a_run_out_of_memory_in_its_first_step_is_one_line_and_leaves_no_folder(tmp_path,
                                                                              monkeypatch):
    def oom(*args, **kw):
        raise RuntimeError(CANT_ALLOCATE)

    monkeypatch.setattr(ylg.train, "train_step", oom)
    result = _run(ylg_main, "train", "--steps", "2", "--width", "8", "--batch-size", "4", "--quiet",
                  "--device", "cpu", "--attention", "none", "--out", tmp_path / "run")
    line = _one_line_error(result, "Error: out of memory (")
    assert "--output" not in line
    assert not (tmp_path / "run").exists()


def test_a_full_disk_during_a_checkpoint_is_an_os_error_naming_it(tmp_path, monkeypatch):
    import torch

    from ylg.run.checkpoint import save_checkpoint

    def full(state, f):
        f.write(b"partial")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . PytorchStreamWriter "
                           "failed writing file data/3: file write failed")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(OSError) as err:
        save_checkpoint(tmp_path / "checkpoint.pt", {"step": 1})
    assert err.value.filename == str(tmp_path / "checkpoint.pt")
    assert list(tmp_path.iterdir()) == []  # no temporary file left


def test_a_full_disk_names_the_path_through_the_command_line(tmp_path, monkeypatch):
    import ifg.files

    real = ifg.files.atomic_write

    def full(path, data, **kw):
        return real(path, lambda f: (_ for _ in ()).throw(OSError(28, "No space left on "
                                                                  "device")), **kw)

    monkeypatch.setattr(ifg.files, "atomic_write", full)
    import ifg.io

    monkeypatch.setattr(ifg.io, "atomic_write", full)
    result = _run(ylg_masks, "export", "--preset", "ylg", "--key-grid", "4x4",
                  "-o", tmp_path / "masks.npz")
    _one_line_error(result, f"Error: {tmp_path / 'masks.npz'}: No space left on device")
    assert list(tmp_path.iterdir()) == []


def test_a_compare_figure_of_an_unknown_kind_is_refused_before_the_comparison(tmp_path,
                                                                             monkeypatch):
    import ylg.compare.run as run

    monkeypatch.setattr(run, "train_probe", lambda *a, **k: pytest.fail("compared"))
    result = _run(ylg_main, "compare", "dense", "local", "--grid", "2", "--seeds", "1",
                  "--cache", tmp_path / "cache", "-o", tmp_path / "out.xyz", "--quiet")
    _one_line_error(result, "out.xyz", ".png")


@pytest.mark.parametrize("value", ["abc", "-1", "0", "nan", "1e30"])
def test_a_bad_mask_byte_limit_is_one_line_not_an_import_traceback(tmp_path, value):
    import os
    import subprocess
    import sys

    from ifg.io import save
    from ifg.maskset import preset

    save(preset("ylg", key_grid=(4, 4)), tmp_path / "m.npz")
    code = ("import sys; from ylg_cli.masks import main; sys.argv = ['ylg-masks', 'check', "
            f"'--masks', {str(tmp_path / 'm.npz')!r}]; main()")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "YLG_MAX_MASK_BYTES": value}, timeout=120)
    assert out.returncode == 2, out.stderr
    assert out.stderr == (f"Error: YLG_MAX_MASK_BYTES must be a positive number of bytes "
                          f"(536870912, 5e8, 512M), got {value!r}\n")


@pytest.mark.parametrize("value,expected", [("1e9", 10**9), ("512M", 512 * 2**20),
                                            ("4096", 4096)])
def test_a_mask_byte_limit_in_any_usual_spelling_is_taken(monkeypatch, value, expected):
    from ifg.io import _env_bytes

    monkeypatch.setenv("YLG_MAX_MASK_BYTES", value)
    assert _env_bytes("YLG_MAX_MASK_BYTES", 1) == (expected, None)


def test_a_thread_count_beyond_a_c_int_is_one_line(tmp_path):
    result = _run(ylg_main, "--threads", "2147483648", "plot", tmp_path)
    _one_line_error(result, "threads must be at most 4,096")


def _irregular(tmp_path, kind, name):
    import os

    path = tmp_path / name
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    else:
        return "/dev/null"
    return path


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind,shown", [("fifo", "a FIFO"), ("folder", "a folder"),
                                        ("device", "a device")])
@pytest.mark.parametrize("what", ["compare item", "image", "features", "inception logits",
                                  "generator file"])
def test_what_is_not_a_regular_file_is_named_so_not_missing(tmp_path, kind, shown, what):
    from ylg.compare.items import resolve
    from ylg.export import read_generator
    from ylg.invert.targets import load_image
    from ylg.metrics.features import load_torchscript
    from ylg.metrics.inception import load_inception_logits

    read = {"compare item": (lambda p: resolve(str(p), (4, 4)), "m.npz"),
            "image": (lambda p: load_image(p, resolution=8, channels=1), "x.png"),
            "features": (load_torchscript, "f.pt"),
            "inception logits": (load_inception_logits, "i.pth"),
            "generator file": (read_generator, "g.safetensors")}[what]
    path = _irregular(tmp_path, kind, read[1])
    if kind == "device" and what == "compare item":
        pytest.skip("/dev/null has no .npz suffix: it is read as a pattern name")
    with pytest.raises(Exception, match=rf"is not a regular file \({shown}\)"):
        read[0](path)
