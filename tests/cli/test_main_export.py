"""ylg export: a weights-only generator in safetensors; round trip and tamper refusal."""

import json
import struct

import pytest
import torch

from ylg_cli.main import main
from .clirun import runner
from ylg.errors import CheckpointError
from ylg.export import export_generator, read_generator
from ylg.sample import load_generator, sample
from ylg.train import TrainConfig, train

run = runner(main)


@pytest.fixture(scope="module")
def masked_run(tmp_path_factory):
    from ifg.io import save
    from ifg.maskset import preset

    root = tmp_path_factory.mktemp("export")
    save(preset("ylg", key_grid=(8, 8), query_grid=(16, 16)), root / "m.npz")
    train(TrainConfig(out=str(root / "run"), width=16, batch_size=2, steps=2,
                      attention=str(root / "m.npz"), device="cpu"),
          progress=False, log=lambda m: None)
    (root / "m.npz").unlink()  # the masks travel in the checkpoint, then in the export
    return root / "run"


def test_export_round_trip_draws_the_same_samples(masked_run, tmp_path):
    out = run("export", "--checkpoint", masked_run / "checkpoint.pt", "-o",
              tmp_path / "g.safetensors")
    assert out.exit_code == 0, out.output
    assert "sha256" in out.output
    G0, info0 = load_generator(masked_run / "checkpoint.pt")
    G1, info1 = load_generator(tmp_path / "g.safetensors")
    assert info1 == info0 and info1["class_names"][3] == "three"
    assert G1.attention.masks.num_heads == 8 and G1.resolution == 32
    assert torch.equal(sample(G0, classes=[3, 7], n=4, seed=5),
                       sample(G1, classes=[3, 7], n=4, seed=5))
    # the exported file is what `ylg sample` reads, by name
    again = run("sample", "--checkpoint", tmp_path / "g.safetensors", "--classes", "seven",
                "--n", "2", "-o", tmp_path / "s.png")
    assert again.exit_code == 0, again.output
    # the file holds only the exported weights
    with pytest.raises(Exception, match="holds the ema weights"):
        load_generator(tmp_path / "g.safetensors", weights="g")
    _, meta = read_generator(tmp_path / "g.safetensors")
    assert meta["config"]["steps"] == 2 and meta["weights"] == "ema"


def _rewrite(path, change):
    """Rewrite a safetensors file's header (JSON) with ``change(header)``; data unchanged."""
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    change(header)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + raw[8 + n:])


def test_a_tampered_file_is_refused_with_a_clear_error(masked_run, tmp_path):
    good = tmp_path / "g.safetensors"
    export_generator(masked_run / "checkpoint.pt", good)
    raw = good.read_bytes()

    flipped = tmp_path / "flipped.safetensors"  # one weight byte changed
    flipped.write_bytes(raw[:-3] + bytes([raw[-3] ^ 0x40]) + raw[-2:])
    meta = tmp_path / "meta.safetensors"  # the metadata changed: another class list
    meta.write_bytes(raw)
    _rewrite(meta, lambda h: h["__metadata__"].update(class_names='["a"]'))
    for path in (flipped, meta):
        with pytest.raises(CheckpointError, match="changed after its export or is damaged"):
            read_generator(path)

    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(raw[:len(raw) // 2])
    with pytest.raises(CheckpointError, match="corrupt, truncated or not a safetensors"):
        read_generator(cut)
    foreign = tmp_path / "foreign.safetensors"
    from safetensors.torch import save_file
    save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(CheckpointError, match="not a ylg generator"):
        read_generator(foreign)
    out = run("sample", "--checkpoint", flipped, "-o", tmp_path / "x.png")
    assert out.exit_code == 2 and len(out.output.strip().splitlines()) == 1
    assert "refusing to load it" in out.output


def test_export_refuses_another_suffix(masked_run, tmp_path):
    out = run("export", "--checkpoint", masked_run / "checkpoint.pt", "-o", tmp_path / "g.pt")
    assert out.exit_code == 2 and "must end in .safetensors" in out.output


def test_a_generator_file_where_a_checkpoint_is_needed_says_so(masked_run, tmp_path):
    shared = tmp_path / "g.safetensors"
    assert run("export", "--checkpoint", masked_run / "checkpoint.pt", "-o", shared).exit_code == 0
    out = run("invert", "--checkpoint", shared, "--sample", "1", "-o", tmp_path / "inv")
    assert out.exit_code == 2, out.output
    assert out.output.strip() == (
        f"Error: {str(shared)!r} is a safetensors file, not a checkpoint: this needs the run's "
        "checkpoint.pt (a generator file from ylg export serves ylg sample, interpolate and "
        "evaluate)")
