"""The generation state as a value, the token a stream yields, and the state's stored form. No TensorFlow.

A `GenState` is an immutable value: the LSTM state (hidden and cell per layer) after the text fed so
far, plus the logits for the next character. Its arrays are NumPy arrays or TensorFlow tensors,
whichever engine made it; either engine accepts either, so a session saved under one runtime loads
under the other. Taking a snapshot is keeping a reference; restoring is using it again.

The state's layout and its serialization live here and nowhere else:

    layers = ((h_0, c_0), (h_1, c_1), ...)   # each [batch, rnn_units] float32
    logits                                    # [batch, vocab] float32

This module computes nothing and imports no TensorFlow (an import-linter contract checks it).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import numpy as np

# Only the last PRIME_TAIL characters of a longer text are fed: the LSTM's memory fades well before.
# Measured on the shipped model (bench/prime_tail.py, 50,000-character texts): from a 2,048-character
# tail on, the state matches priming everything to float32 rounding (max |dh| 1e-5, KL 1e-8 nats);
# 1,024 is not always enough (|dh| 2e-2). 8,192 leaves a factor of four.
PRIME_TAIL = 8192


@dataclass(frozen=True)
class GenState:
    layers: tuple  # ((h, c), ...) each [batch, rnn_units] float32
    logits: Any  # [batch, vocab] float32: the next character's logits (NumPy or TensorFlow)
    chars: int = 0  # characters fed since the last reset (the model's "memory" size)

    @property
    def batch_size(self) -> int:
        return int(self.logits.shape[0])


@dataclass(frozen=True)
class Token:
    text: str
    probability: float  # the model's own probability for this character (softmax at temperature 1)


def new_seed() -> int:
    return random.SystemRandom().randrange(1, 2**31 - 1)


def seed_or_new(seed: int | None) -> int:
    """The seed asked for, or a fresh one where none was (None)."""
    return seed if seed is not None else new_seed()


def state_arrays(prefix: str, state: GenState) -> dict[str, np.ndarray]:
    """The state as named NumPy arrays under `prefix/` (sessions store these)."""
    arrays = {f"{prefix}/logits": np.asarray(state.logits), f"{prefix}/chars": np.asarray(state.chars)}
    for layer, (h, c) in enumerate(state.layers):
        arrays[f"{prefix}/{layer}/h"], arrays[f"{prefix}/{layer}/c"] = np.asarray(h), np.asarray(c)
    return arrays


def state_from(arrays: dict, prefix: str, layers: int) -> GenState:
    """The `GenState` that `state_arrays(prefix, ...)` stored, for a model of `layers` layers."""
    pairs = tuple((arrays[f"{prefix}/{i}/h"], arrays[f"{prefix}/{i}/c"]) for i in range(layers))
    return GenState(pairs, arrays[f"{prefix}/logits"], int(arrays[f"{prefix}/chars"]))
