"""A plain NumPy LSTM step on a model's weights: the correctness oracle, the speed bound, the epoch sample.

Tests compare the compiled engine's logits with this; `bench/generate_speed.py` times it as the
practical bound for batch-1 generation (the weights are read once per character either way); training
writes the sample after each epoch with it (`charbot.generate.epoch`), without tracing anything. Gate
order and activations follow Keras' LSTMCell: i, f, c, o; sigmoid gates, tanh cell.
"""

from __future__ import annotations

import numpy as np


class NumpyLSTM:
    def __init__(self, weights: dict[str, np.ndarray], num_layers: int):
        w = {name: value.astype(np.float32) for name, value in weights.items()}
        self.embedding = w["embedding/embeddings"]  # [vocab, embedding_dim]
        self.layers = [
            (w[f"lstm_{i}/lstm_cell/kernel"], w[f"lstm_{i}/lstm_cell/recurrent_kernel"], w[f"lstm_{i}/lstm_cell/bias"])
            for i in range(num_layers)
        ]  # kernel [in, 4u], recurrent [u, 4u], bias [4u]
        self.head_kernel, self.head_bias = w["logits/kernel"], w["logits/bias"]  # [u, vocab], [vocab]
        self.units = self.layers[0][1].shape[0]

    def zero_state(self, batch_size: int = 1) -> list[tuple[np.ndarray, np.ndarray]]:
        zeros = np.zeros((batch_size, self.units), np.float32)
        return [(zeros, zeros) for _ in self.layers]

    def step(self, ids: np.ndarray, states):
        """ids [batch] -> (logits [batch, vocab], new states)."""
        x = self.embedding[ids]
        new_states = []
        u = self.units
        for (kernel, recurrent, bias), (h, c) in zip(self.layers, states):
            z = x @ kernel + h @ recurrent + bias  # [batch, 4u]
            i = _sigmoid(z[:, :u])
            f = _sigmoid(z[:, u : 2 * u])
            g = np.tanh(z[:, 2 * u : 3 * u])
            o = _sigmoid(z[:, 3 * u :])
            c = f * c + i * g
            h = o * np.tanh(c)
            new_states.append((h, c))
            x = h
        return x @ self.head_kernel + self.head_bias, new_states


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * z) + 1.0)
