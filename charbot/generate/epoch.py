"""The sample shown after each training epoch, made with the NumPy LSTM step and the NumPy sampler.

Training passes it in (`loop.train(sample=...)`), so the training wing never imports generation. Not
the TensorFlow engine: a few hundred characters do not earn back its tracing, its XLA compile and
TensorFlow Probability's import (about 7 s of every run's first epoch, measured on a 1 x 16 model);
the NumPy step computes the same function (`tests/test_engine.py` checks it against the engine).
"""

from __future__ import annotations

import numpy as np

from charbot.config import SampleConfig
from charbot.generate import npsampler
from charbot.generate.base import speech_start
from charbot.model.reference import NumpyLSTM

SEED = 1  # the same sample for the same weights


class EpochSampler:
    """The short sample after each epoch, from the weights of the model that is being trained, read as
    float32 (the model may compute in mixed precision or live on several devices)."""

    def __init__(self, temperature: float = SampleConfig.temperature):
        self.temperature = temperature

    def __call__(self, model, vocab, chars: int) -> str:
        from charbot.model.network import model_weights  # TensorFlow: not before a bad flag is answered

        lstm = NumpyLSTM(model_weights(model), model.config.num_layers)
        states = lstm.zero_state(1)
        logits = None
        for char in speech_start(vocab):  # where a speech begins, as the chat's fresh state
            logits, states = lstm.step(np.asarray(vocab.ids_from_text(char)), states)
        if logits is None:
            logits = np.zeros((1, len(vocab.chars)), np.float32)
        settings, rng, ids = SampleConfig(self.temperature, max_chars=chars, stop=()), np.random.default_rng(SEED), []
        for _ in range(chars):
            ids.append(npsampler.next_id(logits[0], settings, rng))
            logits, states = lstm.step(np.asarray(ids[-1:]), states)
        return vocab.text_from_ids(ids)
