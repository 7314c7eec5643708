"""``ylg train``'s options are derived from TrainConfig: every field reachable, one validation."""

import dataclasses

import pytest

from ifg.errors import InvalidArgument
from ylg.config import TrainConfig
from ylg_cli.main import train


def test_every_config_field_is_an_option_with_its_help():
    params = {p.name: p for p in train.params}
    for f in dataclasses.fields(TrainConfig):
        assert f.name in params, f.name
        assert params[f.name].help == f.metadata["help"]
    assert set(params["out"].opts) == {"-o", "--out", "--output"}


def test_options_reach_the_config(monkeypatch):
    seen = {}
    monkeypatch.setattr("ylg.train.train", lambda cfg, **kw: seen.setdefault("cfg", cfg) and None)
    ctx = train.make_context("train", ["--z-dim", "32", "--betas", "0.5", "0.9", "--channels",
                                       "3", "--output", "x"])
    with pytest.raises(AttributeError):  # the stub returns None: the call happened
        train.invoke(ctx)
    cfg = seen["cfg"]
    assert (cfg.z_dim, cfg.beta1, cfg.beta2, cfg.channels, cfg.out) == (32, 0.5, 0.9, 3, "x")


@pytest.mark.parametrize("bad", [{"backend": "sprase"}, {"device": "gpu"}, {"resolution": 48},
                                 {"channels": 2}, {"amp": "yes"}])
def test_config_validation_refuses(bad):
    with pytest.raises(InvalidArgument):
        TrainConfig(**bad)


def test_ylg_masks_accepts_out_and_output(tmp_path):
    from .clirun import runner

    from ylg_cli.masks import main as masks

    for spelling in ("-o", "--out", "--output"):
        path = tmp_path / f"m{spelling.strip('-')}.npz"
        result = runner(masks)("export", "--preset", "ylg", "--query-grid", "8x8",
                               "--key-grid", "4x4", spelling, path)
        assert result.exit_code == 0, result.output
        assert path.exists()


@pytest.mark.parametrize("bad, message", [
    ({"lr_g": float("inf")}, "lr_g must be a finite number, got inf"),
    ({"lr_d": float("nan")}, "lr_d must be a finite number, got nan"),
    ({"steps": "3"}, "steps must be an integer, got '3'"),
    ({"width": True}, "width must be an integer, got True"),
    ({"beta1": "0.5"}, "beta1 must be a finite number, got '0.5'"),
    ({"tensorboard": 1}, "tensorboard must be true or false, got 1"),
    ({"diffaugment": None}, "diffaugment must be a string, got None"),
])
def test_config_checks_types_and_finite_numbers(bad, message):
    with pytest.raises(InvalidArgument) as err:
        TrainConfig(**bad)
    assert str(err.value) == message


def test_config_accepts_an_integer_for_a_float_and_none_where_optional():
    cfg = TrainConfig(lr_g=1, channels=None, attention_resolution=None)
    assert cfg.lr_g == 1


@pytest.mark.parametrize("value", ["inf", "nan", "-inf"])
def test_train_refuses_a_non_finite_rate_in_one_line(tmp_path, value):
    from .clirun import runner

    from ylg_cli.main import main

    out = tmp_path / "run"
    result = runner(main)("train", "--lr-g", value, "--steps", "1", "--out", out)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: --lr-g must be a finite number"), lines
    assert not out.exists()


def test_backend_offers_every_attention_backend_flex_included():
    from ylg.attention import BACKENDS

    backend = next(p for p in train.params if p.name == "backend")
    assert list(backend.type.choices) == [str(b) for b in BACKENDS]
    assert "flex" in backend.type.choices
