import dataclasses
import math
import shutil

import numpy as np
import pytest

from charbot.model import checkpoint
from charbot.model import describe
from charbot.config import ModelConfig, TrainConfig
from charbot.corpus import load_corpus
from charbot.errors import CharbotError
from charbot.training.loop import train

TINY_MODEL = ModelConfig(embedding_dim=8, rnn_units=24, num_layers=2, dropout=0.2)
TINY_TRAIN = TrainConfig(batch_size=4, seq_len=16, epochs=2, learning_rate=0.01, warmup_steps=2, patience=5)


def test_tiny_model_learns_a_repeated_pattern(tmp_path):
    path = tmp_path / "pattern.txt"
    path.write_text("abcde\n" * 400)
    result = train(load_corpus(str(path)), ModelConfig(embedding_dim=8, rnn_units=32, num_layers=1, dropout=0.0),
                   TrainConfig(batch_size=8, seq_len=24, epochs=6, learning_rate=0.02, warmup_steps=2), tmp_path / "run")
    # Uniform guessing over 6 characters costs ln 6 = 1.79 nats; the pattern is fully predictable.
    assert result.best_val_loss < 0.1
    assert (tmp_path / "run" / "best" / "weights.npz").is_file()


def test_trained_run_records_metrics(tiny_run):
    metrics = checkpoint.load(tiny_run / "best").metrics
    assert metrics["best"]["val_loss"] == min(e["val_loss"] for e in metrics["epochs"])
    assert math.isclose(metrics["best"]["val_bpc"], metrics["best"]["val_loss"] / math.log(2))
    first, last = metrics["epochs"][0], metrics["epochs"][-1]
    assert last["val_loss"] < first["val_loss"]
    assert {"platform", "cpu_count", "tensorflow"} <= set(metrics["machine"])
    assert all(e["chars_per_second"] > 0 for e in metrics["epochs"])


@pytest.mark.slow(seconds=16)
def test_resume_gives_the_same_losses_as_an_uninterrupted_run(tmp_path, short_play_file):
    corpus = load_corpus(str(short_play_file))
    straight = train(corpus, TINY_MODEL, TINY_TRAIN, tmp_path / "straight")
    # Stop in the middle of the first epoch (as Ctrl-C would), then resume twice to the end.
    partial = train(corpus, TINY_MODEL, TINY_TRAIN, tmp_path / "split", max_windows=7)
    assert partial.stopped == "interrupted" and not partial.history
    resumed = train(corpus, TINY_MODEL, TINY_TRAIN, tmp_path / "split", resume=True)
    assert [e["epoch"] for e in resumed.history] == [1, 2]
    for a, b in zip(straight.history, resumed.history):
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-4, abs=1e-5)
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4, abs=1e-5)
    one = checkpoint.load(tmp_path / "straight" / "latest").weights
    split_run = checkpoint.load(tmp_path / "split" / "latest")
    two = split_run.weights
    # The interruption is on the record, not hidden behind the final "finished".
    assert [(s["epoch"], s["window"]) for s in split_run.metrics["interruptions"]] == [(1, 7)]
    assert checkpoint.load(tmp_path / "straight" / "latest").metrics["interruptions"] == []
    training_row = dict(describe.rows(split_run))["training"]
    assert ("stopped: finished, all 2 epochs done (interrupted at epoch 1 window 7; resumed with --resume)"
            in training_row)
    for name in one:
        np.testing.assert_allclose(one[name], two[name], rtol=1e-4, atol=1e-5)


def test_early_stopping_and_best_checkpoint_kept_apart(tmp_path):
    # The held-out tail runs the pattern backwards: the better the model learns the training text,
    # the worse its validation loss, so validation stops improving after the first epochs.
    path = tmp_path / "reversed_tail.txt"
    path.write_text("abcd" * 900 + "dcba" * 100)
    config = TrainConfig(batch_size=4, seq_len=16, epochs=30, learning_rate=0.01, warmup_steps=2, patience=2)
    result = train(load_corpus(str(path)), ModelConfig(embedding_dim=8, rnn_units=16, num_layers=1, dropout=0.0),
                   config, tmp_path / "run")
    assert result.stopped == "early-stopped"
    assert result.reason == "validation did not improve for 2 epochs (--patience)"
    assert len(result.history) == result.best_epoch + 2
    best = checkpoint.load(tmp_path / "run" / "best").metrics
    assert best["best"]["val_loss"] == pytest.approx(result.best_val_loss)
    assert len(best["epochs"]) == result.best_epoch  # best/ was written at its epoch, not after
    assert best["stopped"] == "in progress"  # not "finished": the run went on after best/ was written
    latest = checkpoint.load(tmp_path / "run" / "latest").metrics
    assert len(latest["epochs"]) == len(result.history) and latest["stopped"] == "early-stopped"


def test_existing_run_needs_resume(tiny_run, play_file):
    with pytest.raises(CharbotError, match="already holds a run: add --resume"):
        train(load_corpus(str(play_file)), TINY_MODEL, TINY_TRAIN, tiny_run)


def test_resume_of_a_folder_without_training_state(tmp_path, tiny_run, play_file):
    shutil.copytree(tiny_run / "best", tmp_path / "run" / "latest")
    with pytest.raises(CharbotError, match="holds no training state"):
        train(load_corpus(str(play_file)), TINY_MODEL, TINY_TRAIN, tmp_path / "run", resume=True)


def test_corpus_too_small_for_the_settings(tmp_path, play_file):
    with pytest.raises(CharbotError, match="lower --batch-size or --seq-len"):
        train(load_corpus(str(play_file)), TINY_MODEL, TrainConfig(batch_size=512, seq_len=512), tmp_path / "run")


def test_resume_on_another_corpus_is_refused(tmp_path, tiny_run):
    other = tmp_path / "other.txt"
    other.write_text("a different text entirely\n" * 50)
    with pytest.raises(CharbotError, match="cannot resume .* not this one"):
        train(load_corpus(str(other)), TINY_MODEL, TINY_TRAIN, tiny_run, resume=True)


def test_max_steps_stops_after_that_many_windows_and_validates(tmp_path, play_file):
    config = TrainConfig(batch_size=4, seq_len=16, epochs=5, learning_rate=0.01, warmup_steps=2, max_steps=9)
    result = train(load_corpus(str(play_file)), TINY_MODEL, config, tmp_path / "run")
    # The step count stopped it, and says so (not "budget", which is --budget seconds).
    assert (result.stopped, result.reason) == ("max-steps", "--max-steps 9 reached")
    assert checkpoint.load(tmp_path / "run" / "latest").metrics["stop_reason"] == "--max-steps 9 reached"
    assert len(result.history) == 1 and result.history[0]["windows"] == 9
    assert checkpoint.load(tmp_path / "run" / "best").metrics["best"]["val_loss"] == result.best_val_loss


@pytest.mark.slow(seconds=15)
def test_a_diverging_run_stops_with_one_line_and_keeps_its_checkpoints(tmp_path, short_play_file):
    corpus = load_corpus(str(short_play_file))
    out = tmp_path / "run"
    train(corpus, TINY_MODEL, TINY_TRAIN, out, max_windows=5)  # a sane start: latest/ at window 5
    before = (out / "latest" / "manifest.json").read_bytes()
    wild = dataclasses.replace(TINY_TRAIN, learning_rate=1e6)
    with pytest.raises(CharbotError, match=r"training diverged at epoch 1: .*lower --learning-rate"):
        train(corpus, TINY_MODEL, wild, tmp_path / "wild")
    assert not (tmp_path / "wild" / "best").exists()
    assert (out / "latest" / "manifest.json").read_bytes() == before
    resumed = train(corpus, TINY_MODEL, TINY_TRAIN, out, resume=True)  # the sane run still resumes
    assert len(resumed.history) == 2


def test_val_chars_bounds_what_validation_scores_and_is_recorded(tmp_path, play_file):
    corpus = load_corpus(str(play_file))
    runs = {}
    for val_chars in (0, 128):
        config = dataclasses.replace(TINY_TRAIN, epochs=1, max_steps=5, val_chars=val_chars)
        train(corpus, TINY_MODEL, config, tmp_path / str(val_chars))
        runs[val_chars] = checkpoint.load(tmp_path / str(val_chars) / "latest")
    whole, bounded = runs[0].metrics, runs[128].metrics
    assert whole["val_chars"] == bounded["val_chars"] == 873  # the split itself is the same
    assert bounded["val_scored_chars"] == 128 and whole["val_scored_chars"] == 4 * (872 // 4)
    assert runs[128].train_config.val_chars == 128
    assert bounded["epochs"][0]["train_loss"] == whole["epochs"][0]["train_loss"]
    assert bounded["epochs"][0]["val_loss"] != whole["epochs"][0]["val_loss"]


def test_a_budget_stop_names_the_budget(tmp_path, play_file):
    config = TrainConfig(batch_size=4, seq_len=16, epochs=50, learning_rate=0.01, warmup_steps=2, budget_seconds=0.01)
    result = train(load_corpus(str(play_file)), TINY_MODEL, config, tmp_path / "run")
    assert (result.stopped, result.reason) == ("budget", "--budget 0.01 s used up")
    assert len(result.history) == 1


@pytest.mark.slow(seconds=16)
def test_a_full_disk_while_saving_is_one_line_keeps_the_last_checkpoint_and_resumes(tmp_path, short_play_file, monkeypatch):
    import errno

    corpus, out = load_corpus(str(short_play_file)), tmp_path / "run"
    train(corpus, TINY_MODEL, TINY_TRAIN, out, max_windows=7)  # latest/ at epoch 1, window 7
    before = checkpoint.load(out / "latest", with_resume=True)
    real = checkpoint.write_synced

    def full(path, data):
        if path.name == "resume.npz":
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, data)

    monkeypatch.setattr(checkpoint, "write_synced", full)
    with pytest.raises(CharbotError) as raised:
        train(corpus, TINY_MODEL, TINY_TRAIN, out, resume=True)
    assert str(raised.value) == (f"no space left on the disk while writing the checkpoint {out / 'latest'}: "
                                 "free some space, then continue with --resume")
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []  # no half-written folder
    kept = checkpoint.load(out / "latest", with_resume=True)
    assert kept.resume == before.resume and kept.resume["window"] == 7
    monkeypatch.undo()  # space freed
    resumed = train(corpus, TINY_MODEL, TINY_TRAIN, out, resume=True)
    assert [e["epoch"] for e in resumed.history] == [1, 2]
