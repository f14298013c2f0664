"""The compiled training step: its loops through time XLA-compiled where it pays, the same arithmetic either way."""

import numpy as np
import pytest

from charbot.config import ModelConfig, TrainConfig
from charbot.corpus.streams import lay_out
from charbot.training.trainer import XLA_MODES, Trainer, xla_pays

AVX2 = {"sse4_2", "avx", "avx2", "fma"}
AVX512 = AVX2 | {"avx512f", "avx512_bf16"}


@pytest.mark.parametrize("strategy, flags, gpu, units, onednn, expected", [
    ("one", AVX2, False, 512, False, "step"),  # TensorFlow on Eigen (AMD Zen 2 and 3)
    ("one", AVX2, False, 512, True, "loops"),  # on oneDNN (AVX-VNNI): the window products stay with it
    ("one", AVX2, False, 64, False, "off"),  # a small model never earns the compile back
    ("one", AVX512, False, 512, True, "off"),  # XLA ran at 0.67x the plain graph there
    ("one", AVX2, True, 512, False, "off"),
    ("mirrored", AVX2, False, 512, False, "off"),
    ("one", {"sse4_2"}, False, 512, False, "off"),
])
def test_xla_is_used_only_where_it_was_measured_faster(strategy, flags, gpu, units, onednn, expected):
    assert xla_pays(strategy, flags, gpu, units, onednn) == expected


@pytest.mark.parametrize("layer_norm", [False, True])
def test_the_xla_modes_compute_what_the_plain_graph_does(layer_norm):
    config = ModelConfig(vocab_size=11, embedding_dim=8, rnn_units=16, num_layers=2, dropout=0.2, layer_norm=layer_norm)
    layout = lay_out(np.arange(5_000) % 11, batch_size=4, seq_len=12)
    losses, states_out = {}, {}
    for xla in XLA_MODES:
        trainer = Trainer(config, TrainConfig(batch_size=4, seq_len=12, learning_rate=0.01, warmup_steps=1),
                          total_steps=100, xla=xla)
        assert trainer.xla == xla and trainer.model.xla_loops is (xla == "loops")
        states, losses[xla] = trainer.zero_state(), []
        for k in range(4):
            loss, states = trainer.step(*layout.window(k), states, (7, k))
            losses[xla].append(loss)
        states_out[xla] = np.concatenate([np.asarray(t) for pair in states for t in pair])
    # Another compiler, another order of float32 sums: the noise floor measured for kernels (see
    # test_distribute.py) is about 1e-4 relative after two epochs; four steps stay far inside it.
    for xla in ("loops", "step"):
        np.testing.assert_allclose(losses[xla], losses["off"], rtol=1e-4)
        np.testing.assert_allclose(states_out[xla], states_out["off"], rtol=1e-3, atol=1e-5)
    assert losses["off"][0] != losses["off"][-1]  # it did train


def test_hashed_dropout_noise_is_uniform_and_a_replica_gets_its_rows_of_the_global_batch():
    import tensorflow as tf

    from charbot.model.network import hashed_uniform

    noise = hashed_uniform(tf.constant([64, 32, 96]), [1234, 5]).numpy()
    assert noise.min() >= 0.0 and noise.max() < 1.0
    # 196,608 draws: the share below p has a standard error under 0.0012 for every p.
    for p in (0.1, 0.2, 0.5, 0.9):
        assert abs((noise < p).mean() - p) < 0.005
    assert abs(np.corrcoef(noise[:, :, :-1].ravel(), noise[:, :, 1:].ravel())[0, 1]) < 0.01  # neighbours
    rows = hashed_uniform(tf.constant([64, 8, 96]), [1234, 5], first_row=16).numpy()
    np.testing.assert_array_equal(rows, noise[:, 16:24])
    assert (hashed_uniform(tf.constant([64, 32, 96]), [1234, 6]).numpy() != noise).mean() > 0.99
