"""`charbot eval`: how well a model predicts a text, in nats and bits per character.

The text is laid out as parallel streams (as validation does), each read start to end with its LSTM
state carried from window to window, so a long text is scored in a few large matrix products rather
than one character at a time. Each stream starts from an empty memory, so its first characters are
predicted with less context than a single reading would give them; the README gives the difference
on the bundled validation split. Every character after the first is scored exactly once.

This module computes and describes; it does not train and it does not load checkpoints itself.
"""

from __future__ import annotations

import math
import time

import numpy as np

from charbot.model.score import Score

WINDOW = 256  # characters per compiled call along each stream
STREAMS = 64  # parallel streams at most


def split_text(text: str, which: str, val_fraction: float) -> str:
    """The whole text ('all'), or the part the checkpoint's training held out ('val') or trained on ('train')."""
    from charbot.corpus.streams import split

    if which == "all":
        return text
    head, tail = split(text, val_fraction)  # training's own rule, on characters
    return tail if which == "val" else head


def score_text(model, vocab, text: str, streams: int = STREAMS) -> Score:
    """Per-character losses of `model` on `text`, read as up to `streams` parallel streams."""
    import tensorflow as tf

    started = time.perf_counter()
    encoded = vocab.encode(text)
    ids = np.asarray(encoded.ids, np.int32)
    count = max(0, len(ids) - 1)
    if count == 0:
        return Score(0, encoded.skipped, time.perf_counter() - started, 0, np.zeros(0, np.float32))
    streams = max(1, min(streams, count // WINDOW or 1))
    length = math.ceil(count / streams / WINDOW) * WINDOW  # each stream, padded to whole windows
    flat_inputs, flat_targets = (np.zeros(streams * length, np.int32) for _ in range(2))
    flat_inputs[:count], flat_targets[:count] = ids[:-1], ids[1:]
    inputs, targets = flat_inputs.reshape(streams, length), flat_targets.reshape(streams, length)

    @tf.function(reduce_retracing=True, autograph=False)  # no tensor-dependent Python control flow
    def window_losses(x, y, states):
        logits, states = model(x, states, training=False)
        return tf.keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True), states

    states, pieces = model.zero_state(streams), []
    for start in range(0, length, WINDOW):
        losses, states = window_losses(tf.constant(inputs[:, start : start + WINDOW]),
                                       tf.constant(targets[:, start : start + WINDOW]), states)
        pieces.append(losses.numpy())
    losses = np.concatenate(pieces, axis=1).reshape(-1)[:count]  # stream-major: the text's order
    return Score(count, encoded.skipped, time.perf_counter() - started, streams, losses)


def worst_spans(text: str, vocab, losses: np.ndarray, n: int, context: int = 30) -> list[dict]:
    """The `n` most surprising characters, at least `context` apart, with the text around them."""
    known = [i for i, char in enumerate(text) if char in vocab][1:]  # text positions of scored characters
    order = np.argsort(-losses)
    chosen: list[int] = []
    for k in order:
        if len(chosen) == n:
            break
        if all(abs(int(k) - c) > context for c in chosen):
            chosen.append(int(k))
    spans = []
    for k in chosen:
        at = known[k]
        spans.append({"position": at, "char": text[at], "nats": float(losses[k]),
                      "before": text[max(0, at - context) : at], "after": text[at + 1 : at + 1 + context]})
    return spans


def as_json(score: Score, source: str, checkpoint: str, spans: list[dict] | None) -> dict:
    return {"source": source, "checkpoint": checkpoint, "characters": score.characters,
            "nats_per_char": score.nats, "bits_per_char": score.bits, "skipped": score.skipped,
            "seconds": score.seconds, "streams": score.streams, "worst": spans or []}
