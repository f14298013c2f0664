"""A plain NumPy LSTM step on a model's weights: the correctness oracle, the speed bound, the epoch sample.

Tests compare the compiled engine's logits with this; `bench/generate_speed.py` times it as the
practical bound for batch-1 generation (the weights are read once per character either way); training
writes the sample after each epoch with it (`charbot.generate.epoch`), without tracing anything. Gate
order and activations follow Keras' LSTMCell: i, f, c, o; sigmoid gates, tanh cell. A model trained
with `--layer-norm` has `lstm_norm_<i>/...` weights, and its gates and cell are normalised as in
`charbot.model.lstm.cell`.
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
        self.norms = [tuple(w[f"lstm_norm_{i}/{name}"] for name in ("gates_gamma", "gates_beta", "cell_gamma",
                                                                     "cell_beta")) if f"lstm_norm_{i}/gates_gamma" in w
                      else None for i in range(num_layers)]
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
        for (kernel, recurrent, bias), norm, (h, c) in zip(self.layers, self.norms, states):
            z = x @ kernel + h @ recurrent + bias  # [batch, 4u]
            if norm is not None:
                z = _normalise(z.reshape(len(z), 4, u), norm[0].reshape(4, u), norm[1].reshape(4, u)).reshape(len(z), -1)
            i = _sigmoid(z[:, :u])
            f = _sigmoid(z[:, u : 2 * u])
            g = np.tanh(z[:, 2 * u : 3 * u])
            o = _sigmoid(z[:, 3 * u :])
            c = f * c + i * g
            h = o * np.tanh(c if norm is None else _normalise(c, norm[2], norm[3]))
            new_states.append((h, c))
            x = h
        return x @ self.head_kernel + self.head_bias, new_states


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * z) + 1.0)


def _normalise(z: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Layer normalisation over the last axis (variance floor 1e-5), then gain and shift."""
    centred = z - z.mean(-1, keepdims=True)
    return centred / np.sqrt((centred * centred).mean(-1, keepdims=True) + 1e-5) * gamma + beta
