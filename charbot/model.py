"""The character LSTM: Embedding -> stacked LSTM layers -> Dense logits, built with Keras 3.

The model's call takes and returns the LSTM state explicitly, so training can carry it from window
to window and the engine can carry it from turn to turn. State layout, one pair per layer:

    states = ((h_0, c_0), (h_1, c_1), ...)   # hidden and cell, each [batch, rnn_units] float32

This module builds and runs the network; it does not train, sample or load files.
"""

from __future__ import annotations

from charbot.tfload import load_tensorflow

load_tensorflow()

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from charbot.config import ModelConfig

States = tuple  # ((h, c), ...) per layer


class CharModel(keras.Model):
    def __init__(self, config: ModelConfig, **kwargs):
        super().__init__(name="charbot", **kwargs)
        self.config = config
        self.embedding = keras.layers.Embedding(config.vocab_size, config.embedding_dim, name="embedding")
        self.lstms = [
            keras.layers.LSTM(
                config.rnn_units, return_sequences=True, return_state=True, name=f"lstm_{i}"
            )
            for i in range(config.num_layers)
        ]
        self.head = keras.layers.Dense(config.vocab_size, name="logits")

    def zero_state(self, batch_size: int) -> States:
        zeros = tf.zeros([batch_size, self.config.rnn_units], tf.float32)
        return tuple((zeros, zeros) for _ in range(self.config.num_layers))

    def call(self, ids, states=None, training=False, dropout_seed=None):
        """Logits for every position, and the state after the last one.

        Args:
            ids: [batch, time] int32 character ids.
            states: state to start from; zeros when None.
            training: apply dropout (needs `dropout_seed`, a [2] int tensor, for reproducible masks).
        Returns:
            (logits [batch, time, vocab], states after the last position)
        """
        if states is None:
            states = self.zero_state(tf.shape(ids)[0])
        x = self.embedding(ids)
        new_states = []
        for i, lstm in enumerate(self.lstms):
            h, c = states[i]
            x, h, c = lstm(x, initial_state=[h, c], training=False)
            new_states.append((h, c))
            x = self._dropout(x, training, dropout_seed, i)
        return self.head(x), tuple(new_states)

    def step(self, ids, states):
        """One character per row through the LSTM cells (no loop inside): the engine's inner step.

        Args:
            ids: [batch] int32.
        Returns:
            (logits [batch, vocab], new states)
        """
        x = self.embedding(ids)
        new_states = []
        for i, lstm in enumerate(self.lstms):
            x, (h, c) = lstm.cell(x, list(states[i]), training=False)
            new_states.append((h, c))
        return self.head(x), tuple(new_states)

    def _dropout(self, x, training, seed, layer_index):
        rate = self.config.dropout
        if not training or rate <= 0.0 or seed is None:
            return x
        # Stateless masks derived from (seed, layer): a resumed run draws exactly the same masks.
        layer_seed = tf.stack([seed[0], seed[1] * 131 + layer_index])
        return tf.nn.experimental.stateless_dropout(x, rate, seed=layer_seed)


def build_model(config: ModelConfig) -> CharModel:
    """A model with its weights created (so they can be loaded or counted at once)."""
    if config.vocab_size < 1:
        raise ValueError("ModelConfig.vocab_size must be set from the vocabulary before building")
    model = CharModel(config)
    model(tf.zeros([1, 1], tf.int32))
    return model


def weight_names(model: CharModel) -> list[str]:
    """Stable names for the weights, independent of how many models this process has built."""
    return [variable.path.split("/", 1)[-1] for variable in model.weights]

