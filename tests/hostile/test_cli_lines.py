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
