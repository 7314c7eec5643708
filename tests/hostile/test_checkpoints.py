"""Checkpoints from strangers: the record is checked against the model's signature and the
stored shapes before anything is built; every bad field is one CheckpointError line."""

import pytest
import torch

from ylg.run.checkpoint import VERSION, load_checkpoint

from ylg.models.build import models_from_checkpoint
from ylg.errors import CheckpointError
from ylg.train import TrainConfig, train


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    train(TrainConfig(out=str(out), steps=1, width=16, batch_size=4, attention="dense8",
                      num_samples=4, sample_every=1000, device="cpu"),
          progress=False, log=lambda m: None)
    return out / "checkpoint.pt"


def _edited(checkpoint, tmp_path, edit):
    state = torch.load(checkpoint, weights_only=True)
    edit(state)
    path = tmp_path / "edited.pt"
    torch.save(state, path)
    return path


def _set(key, value):
    def edit(state):
        if "." in key:
            outer, inner = key.split(".")
            state[outer][inner] = value
        else:
            state[key] = value
    return edit


@pytest.mark.parametrize("edit,message", [
    (_set("model.width", 4096), "does not match the stored model"),
    (_set("model.num_classes", 10**9), "model.num_classes is 1000000000"),
    (_set("model.colour", 3), "unknown argument"),
    (_set("model.width", "16"), "model.width is '16'"),
    (_set("model", "sagan"), "model is a str"),
    (_set("step", "abc"), "step is 'abc'"),
    (_set("step", -1), "step is -1"),
    (_set("rng", [1, 2]), "rng is a list"),
    (_set("masks_file", "not bytes"), "masks_file must be"),
    (_set("G.extra", torch.zeros(3)), "unknown tensors"),
], ids=["width", "classes", "unknown-key", "typed", "model-str", "step-str", "step-neg",
        "rng", "masks", "extra-tensor"])
def test_a_bad_record_is_one_error_before_building(checkpoint, tmp_path, edit, message):
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(_edited(checkpoint, tmp_path, edit))


def test_a_folder_is_named_as_a_folder(checkpoint):
    with pytest.raises(CheckpointError, match="is a folder"):
        load_checkpoint(checkpoint.parent)


def test_bad_embedded_masks_name_the_checkpoint(checkpoint, tmp_path):
    path = _edited(checkpoint, tmp_path, lambda s: s.update(
        masks_file=torch.frombuffer(bytearray(b"garbage"), dtype=torch.uint8),
        model={**s["model"], "attention": "file"}))
    with pytest.raises(CheckpointError, match="edited.pt"):
        load_checkpoint(path)


def test_nan_weights_are_refused_for_sampling(checkpoint, tmp_path):
    def poison(state):
        name = next(k for k in state["EMA"] if k.endswith("weight.original"))
        state["EMA"][name] = torch.full_like(state["EMA"][name], float("nan"))
    with pytest.raises(CheckpointError, match="NaN"):
        models_from_checkpoint(load_checkpoint(_edited(checkpoint, tmp_path, poison)))


def test_a_version_1_checkpoint_is_read_with_its_heads_interleaved(checkpoint, tmp_path):
    """Version 1 concatenated the heads head after head; its output projection's input
    channel h*e + j is channel j*heads + h of version 2 (8 dense heads here)."""
    new = load_checkpoint(checkpoint)
    name = "attention.out.parametrizations.weight.original"
    w2 = new["G"][name]
    nh = 8
    e = w2.shape[1] // nh
    w1 = torch.empty_like(w2)
    for h in range(nh):
        for j in range(e):
            w1[:, h * e + j] = w2[:, j * nh + h]

    def to_v1(state):
        state["version"] = 1
        for key in ("G", "EMA"):
            state[key][name] = w1.clone()
            v = state[key][name.replace("original", "0._v")]
            state[key][name.replace("original", "0._v")] = torch.stack(
                [v[j * nh + h] for h in range(nh) for j in range(e)])
    old = load_checkpoint(_edited(checkpoint, tmp_path, to_v1))
    assert old["version"] == VERSION
    assert torch.equal(old["G"][name], w2) and torch.equal(old["EMA"][name], w2)
    v_name = name.replace("original", "0._v")
    assert torch.equal(old["G"][v_name], new["G"][v_name])


def test_an_export_with_a_hostile_model_record_is_refused_before_building(checkpoint,
                                                                        tmp_path):
    """The export's sha256 is the file's own claim: a stranger can recompute it, so the
    model record is checked like a checkpoint's."""
    import json

    from safetensors.torch import load_file, save_file

    from ylg.export import _digest, export_generator, read_generator

    path = tmp_path / "g.safetensors"
    export_generator(checkpoint, path)
    tensors = load_file(path)
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        meta = json.loads(f.read(n))["__metadata__"]
    meta["model"] = json.dumps({**json.loads(meta["model"]), "num_classes": 10**9})
    meta["sha256"] = _digest(tensors, meta)
    save_file(tensors, path, metadata=meta)
    with pytest.raises(CheckpointError, match="num_classes is 1000000000"):
        read_generator(path)


def _rezipped(checkpoint, tmp_path, extra=(), compression=None):
    """The checkpoint's entries copied into a new zip (deflated with ``compression``), plus
    ``extra`` (name under the top folder, chunks) deflated, written a megabyte at a time."""
    import zipfile

    path = tmp_path / "rezipped.pt"
    with zipfile.ZipFile(checkpoint) as src, zipfile.ZipFile(path, "w") as dst:
        top = src.namelist()[0].split("/")[0]
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info),
                         compress_type=compression or zipfile.ZIP_STORED)
        for name, chunks in extra:
            info = zipfile.ZipInfo(f"{top}/{name}")
            info.compress_type = zipfile.ZIP_DEFLATED
            with dst.open(info, "w", force_zip64=True) as f:
                for chunk in chunks:
                    f.write(chunk)
    return path


def test_the_rezipped_good_checkpoint_loads(checkpoint, tmp_path):
    assert load_checkpoint(_rezipped(checkpoint, tmp_path))["step"] == 1


def test_a_deflated_extra_entry_is_refused_before_torch_load(checkpoint, tmp_path, monkeypatch):
    """The issue's 10.5 MB file holding a deflated 1 GiB tensor, at 64 MiB: refused from the
    zip directory; torch.load is never called."""
    path = _rezipped(checkpoint, tmp_path, [("data/999999", [bytes(1 << 20)] * 64)])
    assert path.stat().st_size < checkpoint.stat().st_size + 200_000
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load was called"))
    with pytest.raises(CheckpointError, match="'.*/data/999999' is compressed or encrypted"):
        load_checkpoint(path)


def test_deflated_entries_are_refused(checkpoint, tmp_path):
    import zipfile

    with pytest.raises(CheckpointError, match="is compressed or encrypted"):
        load_checkpoint(_rezipped(checkpoint, tmp_path, compression=zipfile.ZIP_DEFLATED))


def test_an_entry_a_checkpoint_never_holds_is_refused(checkpoint, tmp_path):
    path = _rezipped(checkpoint, tmp_path, [("payload.bin", [b"x" * 100])])
    with pytest.raises(CheckpointError, match="holds an entry '.*/payload.bin'"):
        load_checkpoint(path)


@pytest.mark.parametrize("key,value,message", [
    ("class_names", [0, 1, 2], "class_names is"),
    ("class_names", "digits", "class_names is 'digits'"),
    ("config", [1, 2], "config and model must be JSON objects"),
    ("weights", "both", "weights ema or g"),
])
def test_an_export_with_hostile_metadata_is_refused(checkpoint, tmp_path, key, value, message):
    import json

    from safetensors.torch import load_file, save_file

    from ylg.export import _digest, export_generator, read_generator

    path = tmp_path / "g.safetensors"
    export_generator(checkpoint, path)
    tensors = load_file(path)
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        meta = json.loads(f.read(n))["__metadata__"]
    meta[key] = value if isinstance(value, str) and key == "weights" else json.dumps(value)
    meta["sha256"] = _digest(tensors, meta)
    save_file(tensors, path, metadata=meta)
    with pytest.raises(CheckpointError, match=message):
        read_generator(path)


@pytest.mark.parametrize("names", [[0, 1, 2], "digits", [None], ["x" * 1000]])
def test_a_checkpoint_with_hostile_class_names_is_refused(checkpoint, tmp_path, names):
    with pytest.raises(CheckpointError, match="class_names is"):
        load_checkpoint(_edited(checkpoint, tmp_path, _set("class_names", names)))


@pytest.mark.parametrize("edit", [
    _set("rng", {}),
    _set("rng", {"torch": "x", "cuda": [], "numpy": {}, "python": {}}),
    lambda s: s["rng"]["numpy"].update(pos="3"),
    lambda s: s["rng"]["numpy"].update(keys=torch.zeros(3)),
    lambda s: s["rng"]["python"].update(state=[1.5] * 625),
    lambda s: s["rng"]["python"].update(gauss="x"),
    lambda s: s["rng"].update(cuda=[1, 2]),
], ids=["empty", "torch-str", "pos-str", "keys-short", "state-floats", "gauss-str", "cuda-ints"])
def test_a_checkpoint_whose_random_states_have_wrong_types_is_refused(checkpoint, tmp_path,
                                                                     edit):
    """--resume with such a checkpoint was a TypeError in set_rng_state."""
    with pytest.raises(CheckpointError, match="rng does not hold"):
        load_checkpoint(_edited(checkpoint, tmp_path, edit))


def test_an_empty_mask_file_for_training_is_one_mask_file_error(tmp_path):
    from ifg.errors import MaskFileError

    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(MaskFileError, match="empty.npz: not a mask file"):
        train(TrainConfig(out=str(tmp_path / "run"), steps=1, width=8, batch_size=4,
                          attention=str(tmp_path / "empty.npz"), device="cpu"),
              progress=False, log=lambda m: None)
    assert not (tmp_path / "run").exists()


def test_weights_whose_masks_differ_from_the_records_are_refused(checkpoint, tmp_path):
    """Dense heads' weights under a record that names the YLG masks (the same shapes): the
    masks' fingerprint stored with the weights refuses them, naming both."""
    from ylg.attention import mask_fingerprint

    path = _edited(checkpoint, tmp_path, lambda s: s["model"].update(attention="ylg"))
    with pytest.raises(CheckpointError, match="masks none \\(dense attention\\) but") as err:
        models_from_checkpoint(load_checkpoint(path))
    g = models_from_checkpoint(load_checkpoint(checkpoint))[0]
    assert g.attention.fingerprint == mask_fingerprint(None)
    assert "this layer's masks are " in str(err.value)


def test_a_checkpoint_and_an_export_from_before_the_masks_fingerprint_load(checkpoint,
                                                                          tmp_path):
    import json

    from safetensors.torch import load_file, save_file

    from ylg.export import _digest, export_generator, read_generator

    def strip(state):
        for key in ("G", "D", "EMA"):
            for name in [n for n in state[key] if n.endswith("mask_fingerprint")]:
                del state[key][name]
    old = _edited(checkpoint, tmp_path, strip)
    assert not any(n.endswith("mask_fingerprint") for n in torch.load(old)["G"])
    g, _, ema = models_from_checkpoint(load_checkpoint(old))
    assert "attention.mask_fingerprint" in ema.state_dict()
    path = tmp_path / "g.safetensors"
    export_generator(old, path)
    tensors = {k: v for k, v in load_file(path).items() if not k.endswith("mask_fingerprint")}
    with open(path, "rb") as f:
        meta = json.loads(f.read(int.from_bytes(f.read(8), "little")))["__metadata__"]
    meta["sha256"] = _digest(tensors, meta)
    save_file(tensors, path, metadata=meta)
    G, _ = read_generator(path)
    assert torch.equal(G.attention.mask_fingerprint, ema.attention.mask_fingerprint)
