"""The character LSTM: Embedding -> stacked LSTM layers -> Dense logits, built with Keras 3.

The model's call takes and returns the LSTM state explicitly, so training can carry it from window
to window and the engine can carry it from turn to turn. State layout, one pair per layer:

    states = ((h_0, c_0), (h_1, c_1), ...)   # hidden and cell, each [batch, rnn_units] float32

Training runs each LSTM layer over the whole window in one of two ways: on CPUs with
`charbot.model.lstm.lstm_sequence` (batched projections and a hand-written gradient), on GPUs with the Keras
layer (which picks cuDNN). Both use the same variables, so a checkpoint does not know which ran.
With `layer_norm` each LSTM layer also has a `CellNorm` (weights `lstm_norm_<i>/...`) and only the
layer-wise path runs; generation's one-character step is `charbot.model.lstm.cell` either way.
Mixed precision is a Keras dtype policy on the embedding and LSTM layers; the output layer stays
float32 so logits and the loss are float32.

This module builds and runs the network; it does not train, sample or load files.
"""

from __future__ import annotations

from charbot.system.tfload import load_tensorflow

load_tensorflow()

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from charbot.config import ModelConfig
from charbot.errors import CharbotError
from charbot.model import checkpoint
from charbot.model.lstm import cell, lstm_sequence

States = tuple  # ((h, c), ...) per layer


POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}


class CharModel(keras.Model):
    def __init__(self, config: ModelConfig, precision: str = "float32", layerwise: bool | None = None, **kwargs):
        """Args:
            precision: "float32", "bfloat16" or "float16" (mixed: float32 variables and logits).
            layerwise: train with `lstm_sequence` (default: when no GPU is visible).
        """
        super().__init__(name="charbot", **kwargs)
        self.config = config
        self.layerwise = not tf.config.list_physical_devices("GPU") if layerwise is None else layerwise
        self.xla_loops = False  # the layer-wise loops through time XLA-compiled (set by the trainer: `xla_pays`)
        for flag, used in (("--weight-drop", config.weight_drop > 0), ("--layer-norm", config.layer_norm)):
            if used and not self.layerwise:
                raise CharbotError(f"{flag} needs the layer-wise LSTM, which trains on CPUs; on a GPU the Keras "
                                   f"layer (cuDNN) has no hook for it: train without {flag} there")
        policy = POLICIES[precision]
        self.embedding = keras.layers.Embedding(config.vocab_size, config.embedding_dim, name="embedding",
                                                dtype=policy)
        self.lstms = [
            keras.layers.LSTM(
                config.rnn_units, return_sequences=True, return_state=True, name=f"lstm_{i}", dtype=policy
            )
            for i in range(config.num_layers)
        ]
        self.norms = [CellNorm(config.rnn_units, name=f"lstm_norm_{i}") for i in range(config.num_layers)
                      ] if config.layer_norm else []
        self.head = keras.layers.Dense(config.vocab_size, name="logits", dtype="float32")
        # Built here, not on first call: the layer-wise path reads the LSTM variables without calling
        # the layers.
        width = config.embedding_dim
        for lstm in self.lstms:
            with keras.name_scope(lstm.name):  # the scope a first call would give: stable weight names
                lstm.build((None, None, width))
            width = config.rnn_units
        for norm in self.norms:
            with keras.name_scope(norm.name):
                norm.build(None)
        with keras.name_scope(self.head.name):
            self.head.build((None, width))

    def zero_state(self, batch_size: int) -> States:
        zeros = tf.zeros([batch_size, self.config.rnn_units], tf.float32)
        return tuple((zeros, zeros) for _ in range(self.config.num_layers))

    def call(self, ids, states=None, training=False, dropout_seed=None, rows=None):
        """Logits for every position, and the state after the last one.

        Args:
            ids: [batch, time] int32 character ids.
            states: state to start from; zeros when None.
            training: apply dropout (needs `dropout_seed`, a [2] int tensor, for reproducible masks).
            rows: (first row, global batch) when `ids` is one replica's rows of a larger batch, so
                its dropout masks are those rows of the global batch's masks.
        Returns:
            (logits [batch, time, vocab] float32, states after the last position)
        """
        if states is None:
            states = self.zero_state(tf.shape(ids)[0])
        x = tf.transpose(self.embedding(ids), [1, 0, 2])  # [time, batch, embedding]
        x = self._dropout(x, training, dropout_seed, _INPUT, rows, self.config.input_dropout)
        new_states = []
        for i, lstm in enumerate(self.lstms):
            x, h, c = self._layer(i, x, *states[i], self._dropped(lstm, i, training, dropout_seed))
            new_states.append((h, c))
            x = self._dropout(x, training, dropout_seed, i, rows, self.config.dropout)
        return tf.transpose(self.head(x), [1, 0, 2]), tuple(new_states)

    def norm(self, index):
        """Layer `index`'s layer-normalisation weights as `lstm.cell` takes them, or None."""
        return self.norms[index].values() if self.norms else None

    def _layer(self, index, x, h, c, recurrent_kernel):
        """One LSTM layer over time-major x: (outputs [time, batch, units], h, c), float32."""
        lstm = self.lstms[index]
        if self.layerwise:
            return lstm_sequence(tf.cast(x, tf.float32), h, c, lstm.cell.kernel, recurrent_kernel, lstm.cell.bias,
                                 tf.as_dtype(lstm.compute_dtype), self.norm(index), self.xla_loops)
        out, h, c = lstm(tf.transpose(x, [1, 0, 2]), initial_state=[h, c], training=False)
        cast = lambda t: tf.cast(t, tf.float32)  # noqa: E731
        return cast(tf.transpose(out, [1, 0, 2])), cast(h), cast(c)

    def step(self, ids, states, fused=None):
        """One character per row through the LSTM cells (no loop inside): the engine's inner step.

        Args:
            ids: [batch] int32.
            fused: optional `fused_kernels()`, which makes each layer one matrix product instead of two.
        Returns:
            (logits [batch, vocab], new states)
        """
        x = self.embedding(ids)
        new_states = []
        for i, lstm in enumerate(self.lstms):
            weights, (h, c) = lstm.cell, states[i]
            if fused is None:
                z = tf.matmul(x, weights.kernel) + tf.matmul(h, weights.recurrent_kernel)
            else:
                z = tf.matmul(tf.concat([x, h], 1), fused[i])
            x, c = cell(z + weights.bias, c, self.norm(i))
            new_states.append((x, c))
        return self.head(x), tuple(new_states)

    def fused_kernels(self):
        """Per layer, the kernel stacked on the recurrent kernel [features + units, 4 units]: a copy of
        the weights as they are now. Under XLA on a CPU one product at batch 1 ran 1.3x to 1.5x two (2 x 640)."""
        return tuple(tf.concat([lstm.cell.kernel, lstm.cell.recurrent_kernel], 0) for lstm in self.lstms)

    def _dropout(self, x, training, seed, layer_index, rows, rate):
        """Inverted dropout on time-major x [time, batch, units]: a mask per step, or one per window
        (`locked_dropout`) broadcast over every step."""
        if not training or rate <= 0.0 or seed is None:
            return x
        # Masks are a pure function of (seed, layer, time step, row of the global batch, unit): a resumed
        # run draws exactly the same masks, each replica computes only its rows, and the plain graph and
        # XLA draw the same numbers (integer hashing, where TensorFlow's stateless generators do not).
        shape = tf.shape(x)
        if self.config.locked_dropout:
            shape = tf.concat([[1], shape[1:]], 0)
        first = rows[0] if rows is not None else 0
        noise = hashed_uniform(shape, [seed[0], seed[1] * 131 + layer_index], first)
        return tf.where(noise >= rate, x / (1.0 - rate), tf.zeros_like(x))

    def _dropped(self, lstm, layer_index, training, seed):
        """The recurrent kernel, with DropConnect (`weight_drop`) while training: one mask per window,
        the same for every row and replica (a function of the seed, the step and the layer)."""
        kernel, rate = lstm.cell.recurrent_kernel, self.config.weight_drop
        if not training or rate <= 0.0 or seed is None:
            return kernel
        shape = tf.concat([[1], tf.shape(kernel)], 0)
        noise = hashed_uniform(shape, [seed[0], seed[1] * 131 + _WEIGHTS + layer_index])[0]
        return tf.where(noise >= rate, kernel / (1.0 - rate), tf.zeros_like(kernel))


class CellNorm(keras.layers.Layer):
    """The gains and shifts of one LSTM layer's layer normalisation (`--layer-norm`): per gate over the
    units, and on the cell state. Holds weights only; `charbot.model.lstm` does the arithmetic."""

    def __init__(self, units, **kwargs):
        super().__init__(dtype="float32", **kwargs)
        self.units = units

    def build(self, input_shape):
        units = self.units
        forget_one = lambda shape, dtype=None: np.concatenate(  # noqa: E731  (Keras' unit forget bias)
            [np.zeros(units), np.ones(units), np.zeros(2 * units)]).astype(np.float32)
        self.gates_gamma = self.add_weight(shape=(4 * units,), initializer="ones", name="gates_gamma")
        self.gates_beta = self.add_weight(shape=(4 * units,), initializer=forget_one, name="gates_beta")
        self.cell_gamma = self.add_weight(shape=(units,), initializer="ones", name="cell_gamma")
        self.cell_beta = self.add_weight(shape=(units,), initializer="zeros", name="cell_beta")

    def values(self):
        """(gates gain, gates shift, cell gain, cell shift): the `norm` of `charbot.model.lstm`."""
        return self.gates_gamma, self.gates_beta, self.cell_gamma, self.cell_beta


_INPUT, _WEIGHTS = 64, 96  # mask streams of the embedding dropout and of weight drop (layers use 0, 1, ...)


def _mix(x):
    """murmur3's 32-bit finaliser: every input bit moves every output bit."""
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 16)) * tf.constant(0x85EBCA6B, tf.uint32)
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 13)) * tf.constant(0xC2B2AE35, tf.uint32)
    return tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 16))


def hashed_uniform(shape, seed, first_row=0):
    """Uniform [0, 1) noise of `shape` [time, rows, units], rows numbered from `first_row`, from `seed`
    (two int32 words): element (t, r, u) depends on nothing else."""
    word = lambda v: tf.bitcast(tf.cast(v, tf.int32), tf.uint32)  # noqa: E731
    key = _mix(word(seed[0]) * tf.constant(0x9E3779B1, tf.uint32) + _mix(word(seed[1])))
    steps = _mix(key + word(tf.range(shape[0])) * tf.constant(0x9E3779B1, tf.uint32))
    rows = word(tf.range(shape[1])) + word(first_row)
    cells = _mix(steps[:, None] ^ (rows[None, :] * tf.constant(0x85EBCA77, tf.uint32)))
    units = word(tf.range(shape[2])) * tf.constant(0xC2B2AE3D, tf.uint32)
    bits = _mix(cells[:, :, None] + units[None, None, :])
    return tf.cast(tf.bitwise.right_shift(bits, 8), tf.float32) * (1.0 / (1 << 24))


def build_model(config: ModelConfig, precision: str = "float32", layerwise: bool | None = None) -> CharModel:
    """A model with its weights created (so they can be loaded or counted at once)."""
    if config.vocab_size < 1:
        raise ValueError("ModelConfig.vocab_size must be set from the vocabulary before building")
    model = CharModel(config, precision, layerwise)
    model(tf.zeros([1, 1], tf.int32))
    return model


def weight_names(model: CharModel) -> list[str]:
    """Stable names for the weights, independent of how many models this process has built."""
    return [variable.path.split("/", 1)[-1] for variable in model.weights]


# --- weights from and into checkpoints ---------------------------------------------------------------

def model_weights(model) -> dict[str, np.ndarray]:
    return {name: variable.numpy() for name, variable in zip(weight_names(model), model.weights)}


def assign_weights(model, data) -> None:
    """Load the checkpoint's weights into a model of the checkpoint's shape, checking each one."""
    for name, variable in zip(weight_names(model), model.weights):
        value = data.weights.get(name)
        if value is None:
            raise CharbotError(f"checkpoint {data.path}: weights.npz lacks {name}; it does not match config.json")
        if tuple(value.shape) != tuple(variable.shape):
            raise CharbotError(
                f"checkpoint {data.path}: weights.npz has {name} of shape {value.shape}, config.json implies "
                f"{tuple(variable.shape)}; the files do not belong together"
            )
        if not np.isfinite(value).all():
            raise CharbotError(
                f"checkpoint {data.path}: weight {name} holds NaN or infinite values; the model is broken "
                f"(a diverged run?): use an earlier checkpoint or retrain with a lower --learning-rate"
            )
        variable.assign(value.astype(np.float32))


def load_model(path):
    """(model, CheckpointData) for inference."""
    data = checkpoint.load(path)
    return model_from(data), data


def model_from(data) -> CharModel:
    """The float32 model of a loaded checkpoint, its weights checked and assigned."""
    model = build_model(data.model_config)
    assign_weights(model, data)
    return model
