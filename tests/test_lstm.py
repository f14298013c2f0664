"""The layer-wise training LSTM against Keras' own LSTM layer: same outputs, same gradients. The
layer-normalised cell, which Keras lacks, against autodiff through the generation step."""

import numpy as np
import pytest
import tensorflow as tf

from charbot.config import ModelConfig
from charbot.model.network import build_model
from charbot.system.hardware import bfloat16_crashes_tensorflow, cpu_flags, onednn_isa_cap, tensorflow_uses_onednn

BF16_CRASHES = bfloat16_crashes_tensorflow(cpu_flags(), onednn_isa_cap(), tensorflow_uses_onednn(cpu_flags()))


def outputs_and_gradients(model, ids, targets, states):
    with tf.GradientTape() as tape:
        logits, new_states = model(ids, states, training=False)
        loss = tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(targets, logits, from_logits=True))
        # The carried state feeds the next window, so its gradient path is checked too.
        loss += 0.1 * tf.reduce_sum(new_states[0][0]) + 0.2 * tf.reduce_sum(new_states[-1][1])
    gradients = [tf.convert_to_tensor(g).numpy() for g in tape.gradient(loss, model.trainable_variables)]
    return logits.numpy(), [t.numpy() for t in tf.nest.flatten(new_states)], gradients


@pytest.mark.parametrize("time_steps", [1, 2, 17])
def test_layerwise_matches_the_keras_layer(time_steps):
    config = ModelConfig(vocab_size=11, embedding_dim=5, rnn_units=7, num_layers=2, dropout=0.0)
    layerwise, keras_layer = build_model(config, layerwise=True), build_model(config, layerwise=False)
    keras_layer.set_weights(layerwise.get_weights())
    rng = np.random.default_rng(time_steps)
    ids = tf.constant(rng.integers(0, 11, (3, time_steps)), tf.int32)
    targets = tf.constant(rng.integers(0, 11, (3, time_steps)), tf.int32)
    states = tuple((tf.constant(rng.normal(size=(3, 7)), tf.float32), tf.constant(rng.normal(size=(3, 7)), tf.float32))
                   for _ in range(2))
    ours, theirs = outputs_and_gradients(layerwise, ids, targets, states), outputs_and_gradients(keras_layer, ids, targets, states)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-5, atol=1e-6)
    for a, b in zip(ours[1], theirs[1]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for a, b in zip(ours[2], theirs[2]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    assert any(np.abs(g).max() > 1e-3 for g in ours[2])  # gradients are not all zero


@pytest.mark.parametrize("time_steps", [1, 17])
def test_the_layer_normalised_backward_pass_matches_autodiff_through_the_generation_step(time_steps):
    """The hand-written backward pass of `--layer-norm` against tf.GradientTape through `model.step`,
    one character at a time: outputs, carried state and every gradient (the gains and shifts too)."""
    config = ModelConfig(vocab_size=11, embedding_dim=5, rnn_units=7, num_layers=2, dropout=0.0, layer_norm=True)
    model = build_model(config, layerwise=True)
    rng = np.random.default_rng(time_steps)
    for variable in model.weights:  # away from the initial gains of 1 and shifts of 0
        variable.assign(variable.numpy() + rng.normal(size=variable.shape).astype(np.float32) * 0.5)
    ids = tf.constant(rng.integers(0, 11, (3, time_steps)), tf.int32)
    targets = tf.constant(rng.integers(0, 11, (3, time_steps)), tf.int32)
    states = tuple((tf.constant(rng.normal(size=(3, 7)), tf.float32), tf.constant(rng.normal(size=(3, 7)), tf.float32))
                   for _ in range(2))

    class Stepwise:
        trainable_variables = model.trainable_variables

        def __call__(self, ids, states, training=False):
            outputs = []
            for t in range(ids.shape[1]):
                logits, states = model.step(ids[:, t], states)
                outputs.append(logits)
            return tf.stack(outputs, 1), states

    ours, theirs = outputs_and_gradients(model, ids, targets, states), outputs_and_gradients(Stepwise(), ids, targets, states)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-5, atol=1e-5)
    for a, b in zip(ours[1], theirs[1]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    assert len(ours[2]) == len(theirs[2]) == 17  # 9 weights of the plain model, 4 gains and shifts per layer
    for a, b in zip(ours[2], theirs[2]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert all(np.abs(g).max() > 1e-3 for g in ours[2])


def test_layer_normalisation_really_normalises():
    """With gains of 1 and shifts of 0, each gate's pre-activations have mean 0 and variance 1 over the units."""
    from charbot.model.lstm import normalise

    z = tf.constant(np.random.default_rng(0).normal(3.0, 5.0, size=(2, 4 * 6)), tf.float32)
    y, _, _ = normalise(z, tf.ones([24]), tf.zeros([24]), 4)
    parts = y.numpy().reshape(2, 4, 6)
    np.testing.assert_allclose(parts.mean(-1), 0.0, atol=1e-5)
    np.testing.assert_allclose(parts.var(-1), 1.0, rtol=1e-3)


@pytest.mark.skipif(BF16_CRASHES,
                    reason="oneDNN is capped below AVX-512 on a bfloat16 CPU: a bfloat16 matmul segfaults TensorFlow")
def test_bfloat16_products_stay_close_to_float32():
    config = ModelConfig(vocab_size=11, embedding_dim=8, rnn_units=16, num_layers=2, dropout=0.0)
    full, mixed = build_model(config, "float32"), build_model(config, "bfloat16")
    mixed.set_weights(full.get_weights())
    ids = tf.constant(np.random.default_rng(0).integers(0, 11, (2, 9)), tf.int32)
    logits_full, _ = full(ids)
    logits_mixed, states = mixed(ids)
    assert logits_mixed.dtype == tf.float32 and states[0][0].dtype == tf.float32
    np.testing.assert_allclose(logits_mixed.numpy(), logits_full.numpy(), atol=0.05)
    assert not np.array_equal(logits_mixed.numpy(), logits_full.numpy())  # the products really ran in bfloat16


def bfloat16_errors(layer_norm: bool, seed: int, units: int = 64, time_steps: int = 17):
    """(largest logit error against the NumPy oracle, largest relative gradient error against float32) of
    the bfloat16 training path on random weights and state."""
    from charbot.model.network import model_weights
    from charbot.model.reference import NumpyLSTM

    config = ModelConfig(vocab_size=11, embedding_dim=8, rnn_units=units, num_layers=2, dropout=0.0,
                         layer_norm=layer_norm)
    tf.keras.utils.set_random_seed(seed)
    full, mixed = build_model(config, "float32"), build_model(config, "bfloat16")
    rng = np.random.default_rng(seed)
    weights = [w + rng.normal(scale=0.03, size=w.shape).astype(np.float32) for w in full.get_weights()]
    full.set_weights(weights)  # gains and shifts away from 1 and 0, so their gradients are exercised too
    mixed.set_weights(weights)
    ids, targets = (tf.constant(rng.integers(0, 11, (4, time_steps)), tf.int32) for _ in range(2))
    states = tuple((tf.constant(rng.normal(size=(4, units)), tf.float32), tf.constant(rng.normal(size=(4, units)), tf.float32))
                   for _ in range(2))
    oracle, oracle_states = NumpyLSTM(model_weights(full), num_layers=2), [(h.numpy(), c.numpy()) for h, c in states]
    expected = []
    for t in range(time_steps):
        logits, oracle_states = oracle.step(ids.numpy()[:, t], oracle_states)
        expected.append(logits)
    (logits, _, gradients), (_, _, reference) = (outputs_and_gradients(m, ids, targets, states) for m in (mixed, full))
    logit_error = np.abs(logits - np.stack(expected, 1)).max()
    return logit_error, max(np.linalg.norm(g - r) / np.linalg.norm(r) for g, r in zip(gradients, reference))


# Measured on an AMD EPYC Zen 5 (avx512_bf16) over seeds 0 to 11 of this set-up, with oneDNN's kernels and
# with Eigen's (TF_ENABLE_ONEDNN_OPTS=0), the worst of the two: the largest logit error 0.0022 and relative
# gradient error 0.0100 for the plain cell; 0.043 and 0.117 with layer normalisation, whose normalised
# pre-activations magnify the rounding of the bfloat16 products and carry it back through 17 steps
# (layer 0's gradients err 3x layer 1's). The bounds are 3x those. A wrong gradient formula errs by order 1.
BF16_BOUNDS = {False: (0.0066, 0.03), True: (0.13, 0.35)}  # layer_norm: (logits, gradients)


@pytest.mark.skipif(BF16_CRASHES,
                    reason="oneDNN is capped below AVX-512 on a bfloat16 CPU: a bfloat16 matmul segfaults TensorFlow")
@pytest.mark.parametrize("layer_norm", [False, True])
def test_the_bfloat16_training_path_against_the_oracle(layer_norm):
    logit_error, gradient_error = bfloat16_errors(layer_norm, seed=12)  # a seed the bounds were not measured on
    logit_bound, gradient_bound = BF16_BOUNDS[layer_norm]
    assert 0 < logit_error < logit_bound and 0 < gradient_error < gradient_bound
