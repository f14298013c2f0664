"""The regularisers: locked (variational) dropout, embedding dropout, weight drop, layer normalisation in
the cell, AdamW and a weight EMA.

Each mask is checked for what it is (one per window, the same over time or over rows), the whole set
resumes exactly, weight decay spares the normalisation's gains, and the moving average is what
validation scores and best/ keeps. (The normalised cell's arithmetic is checked in test_lstm.py.)
"""

import dataclasses

import numpy as np
import pytest

from charbot.config import ModelConfig, TrainConfig
from charbot.corpus import load_corpus
from charbot.errors import CharbotError
from charbot.model import checkpoint

ALL = ModelConfig(embedding_dim=8, rnn_units=16, num_layers=2, dropout=0.3, input_dropout=0.1, locked_dropout=True,
                  weight_drop=0.3, layer_norm=True)
TRAIN = TrainConfig(batch_size=4, seq_len=16, epochs=2, learning_rate=0.01, warmup_steps=2, weight_decay=0.01,
                    ema=0.9)


def _model(**changes):
    from charbot.model.network import build_model

    return build_model(dataclasses.replace(ALL, vocab_size=11, **changes))


def test_locked_dropout_keeps_one_mask_for_every_step():
    import tensorflow as tf

    model = _model()
    x = tf.ones([12, 5, 16])
    kept = model._dropout(x, True, tf.constant([3, 4]), 0, None, 0.5).numpy() != 0
    assert (kept == kept[:1]).all()  # the same units dropped at every time step
    assert 0.3 < kept.mean() < 0.7
    fresh = _model(locked_dropout=False)._dropout(x, True, tf.constant([3, 4]), 0, None, 0.5).numpy() != 0
    assert not (fresh == fresh[:1]).all()


def test_weight_drop_is_one_mask_per_window_on_the_recurrent_kernel():
    import tensorflow as tf

    model = _model()
    lstm = model.lstms[0]
    kernel = lstm.cell.recurrent_kernel.numpy()
    first = model._dropped(lstm, 0, True, tf.constant([3, 4])).numpy()
    again = model._dropped(lstm, 0, True, tf.constant([3, 4])).numpy()
    later = model._dropped(lstm, 0, True, tf.constant([3, 5])).numpy()
    np.testing.assert_array_equal(first, again)
    assert (first != later).any()
    dropped = first == 0
    assert 0.15 < dropped.mean() < 0.45
    np.testing.assert_allclose(first[~dropped], kernel[~dropped] / 0.7, rtol=1e-6)
    np.testing.assert_array_equal(model._dropped(lstm, 0, False, tf.constant([3, 4])).numpy(), kernel)


def test_weight_drop_on_the_keras_layer_is_refused_in_one_line():
    with pytest.raises(CharbotError, match="--weight-drop needs the layer-wise LSTM"):
        from charbot.model.network import CharModel

        CharModel(dataclasses.replace(ALL, vocab_size=11), layerwise=False)


def test_layer_norm_on_the_keras_layer_is_refused_in_one_line():
    with pytest.raises(CharbotError, match="--layer-norm needs the layer-wise LSTM") as error:
        from charbot.model.network import CharModel

        CharModel(dataclasses.replace(ALL, vocab_size=11, weight_drop=0.0), layerwise=False)
    assert "\n" not in str(error.value)


def test_weight_decay_spares_the_layer_norm_gains_and_shifts():
    """One AdamW step with zero gradients moves only what is decayed: the kernels, not the gains and shifts."""
    import keras
    import tensorflow as tf

    from charbot.training.trainer import _optimizer

    model = _model()
    optimizer = _optimizer(keras, dataclasses.replace(TRAIN, ema=0.0, weight_decay=0.5), 0.1)
    before = {v.path: v.numpy() for v in model.trainable_variables}
    optimizer.apply_gradients([(tf.zeros_like(v), v) for v in model.trainable_variables])
    moved = {v.path for v in model.trainable_variables if (v.numpy() != before[v.path]).any()}
    norms = {v.path for v in model.trainable_variables if "lstm_norm" in v.path}
    assert len(norms) == 8 and not moved & norms
    assert {v.path for v in model.trainable_variables if v.path.endswith("kernel")} <= moved


@pytest.mark.slow(seconds=20)
def test_every_regulariser_at_once_resumes_exactly(tmp_path, short_play_file):
    from charbot.training.loop import train

    corpus = load_corpus(str(short_play_file))
    straight = train(corpus, ALL, TRAIN, tmp_path / "straight")
    train(corpus, ALL, TRAIN, tmp_path / "split", max_windows=5)
    resumed = train(corpus, ALL, TRAIN, tmp_path / "split", resume=True)
    for a, b in zip(straight.history, resumed.history, strict=True):
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-4)
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
    from charbot.model import describe

    training = dict(describe.rows(checkpoint.load(tmp_path / "split" / "best")))["training"]
    assert "weight drop 0.3" in training and "layer normalisation in the cell" in training


def test_train_takes_a_layer_norm_flag():
    from charbot.cli import build_parser

    args = build_parser().parse_args(["train", "--corpus", "x.txt", "--layer-norm"])
    assert args.layer_norm and not build_parser().parse_args(["train", "--corpus", "x.txt"]).layer_norm


@pytest.mark.slow(seconds=12)
def test_the_average_is_validated_and_kept_in_best(tmp_path, short_play_file):
    """With --ema, best/ holds the averaged weights and latest/ the trained ones; the averaged ones
    score the validation loss recorded for best/."""
    from charbot.corpus.streams import split, validation_layout
    from charbot.model import network
    from charbot.training.loop import train
    from charbot.training.trainer import Trainer

    corpus = load_corpus(str(short_play_file))
    config = dataclasses.replace(TRAIN, epochs=1)
    train(corpus, ALL, config, tmp_path / "run")
    best, latest = checkpoint.load(tmp_path / "run" / "best"), checkpoint.load(tmp_path / "run" / "latest")
    assert any((best.weights[name] != latest.weights[name]).any() for name in best.weights)
    optimizer = checkpoint.load(tmp_path / "run" / "latest", with_resume=True)
    assert optimizer.resume_arrays  # the average travels with the optimizer's slots
    assert best.train_config.ema == 0.9 and best.train_config.weight_decay == 0.01
    _, val_ids = split(corpus.ids(), config.val_fraction)
    layout = validation_layout(val_ids, config.batch_size, config.seq_len, config.val_chars)
    trainer = Trainer(best.model_config, best.train_config, total_steps=1)
    scores = {}
    for name, data in (("best", best), ("latest", latest)):
        network.assign_weights(trainer.model, data)
        scores[name] = trainer.evaluate(layout)
    assert scores["best"] == pytest.approx(best.metrics["best"]["val_loss"], rel=1e-5)
    assert scores["latest"] != pytest.approx(scores["best"], rel=1e-5)
