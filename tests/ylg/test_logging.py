"""Library messages go through ``logging`` (the ``ylg.*`` loggers): a program that embeds the
library silences or redirects them; the command line shows them as plain lines on stderr."""

import contextlib
import logging
import time

import pytest

import ylg.metrics.digits as digits_module
from ylg.train import TrainConfig, train

TINY = dict(width=8, batch_size=4, attention="none", log_every=1, sample_every=1000,
            checkpoint_every=1000, num_samples=4, device="cpu")


def _messages(caplog, level=None):
    return [r.getMessage() for r in caplog.records
            if r.name.startswith("ylg") and (level is None or r.levelno == level)]


def test_training_notes_and_estimate_are_info_records_of_ylg_train(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="ylg"):
        train(TrainConfig(out=str(tmp_path / "a"), steps=5, **TINY), progress=False)
    assert {r.name for r in caplog.records if r.name.startswith("ylg")} == {"ylg.train"}
    info = _messages(caplog, logging.INFO)
    assert info[0].startswith("data: digits:train, 1500 images, 10 classes")
    assert any(m.startswith("estimate on this CPU: 2 steps at") for m in info)
    assert not _messages(caplog, logging.WARNING)  # two tiny steps: no warning


def test_a_long_cpu_run_warns_at_warning_level(tmp_path, caplog, monkeypatch):
    clock = iter(range(0, 10 ** 9, 10_000))  # 10,000 s between readings: hours to go
    monkeypatch.setattr(time, "perf_counter", lambda: float(next(clock)))
    monkeypatch.setattr("ylg.run.folder.plot_training", lambda run_dir: None)
    with caplog.at_level(logging.INFO, logger="ylg"):
        train(TrainConfig(out=str(tmp_path / "b"), steps=5, long_ok=True, **TINY),
              progress=False)
    [warning] = _messages(caplog, logging.WARNING)
    assert warning.startswith("warning: this run takes more than an hour on a CPU")
    assert any(m.startswith("estimate on this CPU") for m in _messages(caplog, logging.INFO))


def test_unreadable_training_images_are_a_warning_not_a_note(tmp_path, caplog):
    from PIL import Image

    for cls in ("cat", "dog"):
        (tmp_path / "images" / cls).mkdir(parents=True)
        Image.new("RGB", (8, 8), "red").save(tmp_path / "images" / cls / "a.png")
    (tmp_path / "images" / "dog" / "broken.png").write_bytes(b"\x89PNG not really")
    with caplog.at_level(logging.INFO, logger="ylg"):  # --quiet shows WARNING and above
        train(TrainConfig(out=str(tmp_path / "d"), steps=1, data=str(tmp_path / "images"),
                          **TINY), progress=False)
    [warning] = _messages(caplog, logging.WARNING)
    assert warning.startswith("warning: skipped 1 unreadable file(s), e.g. ")
    assert "broken.png" in warning


@pytest.fixture
def ylg_logger():
    """The ``ylg`` logger, its level and handlers restored after the test."""
    logger = logging.getLogger("ylg")
    level, handlers = logger.level, list(logger.handlers)
    yield logger
    logger.setLevel(level)
    logger.handlers[:] = handlers


def test_raising_the_ylg_level_silences_the_library(tmp_path, caplog, capsys, ylg_logger):
    ylg_logger.setLevel(logging.ERROR)
    with caplog.at_level(logging.INFO):  # the root takes everything: ylg's own level decides
        train(TrainConfig(out=str(tmp_path / "c"), steps=5, **TINY), progress=False)
    assert _messages(caplog) == [] and capsys.readouterr().err == ""  # nor printed


def test_a_handler_on_ylg_redirects_the_messages(tmp_path, ylg_logger):
    seen = []

    class Keep(logging.Handler):
        def emit(self, record):
            seen.append((record.name, record.levelname, record.getMessage()))

    ylg_logger.setLevel(logging.INFO)
    ylg_logger.addHandler(Keep())
    train(TrainConfig(out=str(tmp_path / "d"), steps=1, **TINY), progress=False)
    assert seen[0][:2] == ("ylg.train", "INFO") and seen[0][2].startswith("data: digits")


def test_a_classifier_that_differs_from_the_reference_is_a_warning(caplog, monkeypatch):
    class Net:
        def weights_sha256(self):
            return "0" * 64

    monkeypatch.setattr(digits_module, "_train", lambda **kw: Net())
    monkeypatch.setattr(digits_module, "deterministic_cpu", contextlib.nullcontext)
    with caplog.at_level(logging.INFO, logger="ylg"):
        digits_module._train_digit_classifier(seed=0)
    [record] = [r for r in caplog.records if r.name == "ylg.metrics.digits"]
    assert record.levelno == logging.WARNING
    assert "differs from the reference one (sha256 000000000000" in record.getMessage()
