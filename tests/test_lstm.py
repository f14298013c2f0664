"""The layer-wise training LSTM against Keras' own LSTM layer: same outputs, same gradients."""

import numpy as np
import pytest
import tensorflow as tf

from charbot.config import ModelConfig
from charbot.model.network import build_model
from charbot.system.hardware import bfloat16_crashes_tensorflow, cpu_flags, onednn_isa_cap


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


@pytest.mark.skipif(bfloat16_crashes_tensorflow(cpu_flags(), onednn_isa_cap()),
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
