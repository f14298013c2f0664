"""The generation engine: prime a state with text, stream characters, snapshot and restore state.

This is the TensorFlow engine (`--runtime tf`): the reference in tests, and what batched generation on
a GPU uses. The state it carries is `state.GenState`. The engine yields tokens; it never prints.

Speed: characters are produced by a compiled function that samples and steps `CHUNK` characters per
call, with the state and the settings as tensor inputs (changing the temperature never retraces).
A stream yields those characters one by one and, when its consumer stops early, re-primes from the
chunk's start with exactly the characters that were yielded, so the state always matches the text
the user saw. Each layer's step is one product of [x, h] with the kernels stacked once when the engine
is built (`CharModel.fused_kernels`): about 1.15x two products at batch 1 (1.0x to 1.37x in 12 A/B
runs of a stream, 2 x 640, Zen 5).

Priming runs layer by layer: one matrix product gives every position's input projection, then an
XLA-compiled scan does only the recurrent half (about 4x faster than the Keras layer for a 1,000
character seed on two CPU cores). Seeds are left-padded to a few bucket lengths, with padded steps
masked out, so only a handful of shapes are ever compiled.
"""

from __future__ import annotations

import numpy as np

from charbot.system.tfload import load_tensorflow

load_tensorflow()

import tensorflow as tf  # noqa: E402

from charbot.config import SampleConfig
from charbot.generate.base import Constraint, Engine
from charbot.generate.sampling import next_ids, settings_tensors
from charbot.generate.state import PRIME_TAIL, GenState, Token
from charbot.model.lstm import cell
from charbot.model.vocab import Vocabulary

CHUNK = 64  # characters per compiled call: amortises the call (+17% over 16), ~10 ms of streaming
PRIME_BUCKETS = (16, 64, 256, 1024, 4096)  # seed lengths that get their own compiled prime


class TFEngine(Engine):
    runtime = "tf"

    def __init__(self, model, vocab: Vocabulary):
        self.model = model
        self.vocab = vocab
        fused = model.fused_kernels()  # the weights are read once, here
        step = lambda ids, states: model.step(ids, states, fused)  # noqa: E731

        @tf.function(jit_compile=True)
        def prime_ids(states, ids, mask):  # ids [batch, time], mask [time]: 0 on left padding
            return _prime_scan(model, states, ids, mask)

        @tf.function(reduce_retracing=True, jit_compile=True)
        def chunk(states, logits, settings, seed):  # settings: sampling.settings_tensors
            ids = tf.TensorArray(tf.int32, size=CHUNK)
            probs = tf.TensorArray(tf.float32, size=CHUNK)
            for i in tf.range(CHUNK):
                step_seed = tf.stack([seed[0], seed[1] + i])
                chosen = next_ids(logits, settings, step_seed)  # [batch]
                p = tf.gather(tf.nn.softmax(logits), chosen, batch_dims=1)
                ids = ids.write(i, chosen)
                probs = probs.write(i, p)
                logits, states = step(chosen, states)
                logits.set_shape([None, None])
            return tf.transpose(ids.stack()), tf.transpose(probs.stack()), states, logits

        @tf.function(reduce_retracing=True, jit_compile=True)
        def one(states, logits, settings, seed, allowed):  # one constrained character: allowed [batch, vocab]
            chosen = next_ids(logits, settings, seed, allowed)
            p = tf.gather(tf.nn.softmax(logits), chosen, batch_dims=1)
            logits, states = step(chosen, states)
            return chosen, p, states, logits

        self._prime_ids = prime_ids
        self._chunk = chunk
        self._one = one

    # --- state -------------------------------------------------------------------------------

    def initial_state(self, batch_size: int = 1) -> GenState:
        """Empty memory: zero LSTM state and uniform next-character logits."""
        return GenState(self.model.zero_state(batch_size), tf.zeros([batch_size, len(self.vocab)], tf.float32), 0)

    def repeat(self, state: GenState, batch_size: int) -> GenState:
        """The same single-row state copied into `batch_size` rows (for parallel samples)."""
        tile = lambda t: tf.repeat(t[:1], batch_size, axis=0)  # noqa: E731
        layers = tuple((tile(h), tile(c)) for h, c in state.layers)
        return GenState(layers, tile(state.logits), state.chars)

    def prime_ids(self, state: GenState, ids) -> GenState:
        """Feed `ids` (only the last PRIME_TAIL of a longer text; `chars` still counts them all)."""
        ids = np.asarray(ids, np.int32)
        if len(ids) > PRIME_TAIL:
            state = GenState(state.layers, state.logits, state.chars + len(ids) - PRIME_TAIL)
            ids = ids[-PRIME_TAIL:]
        longest = PRIME_BUCKETS[-1]
        while len(ids):
            piece, ids = ids[:longest], ids[longest:]
            bucket = next(b for b in PRIME_BUCKETS if b >= len(piece))
            padded = np.zeros(bucket, np.int32)
            padded[bucket - len(piece):] = piece
            mask = np.zeros(bucket, np.float32)
            mask[bucket - len(piece):] = 1.0
            batch_ids = tf.constant(np.tile(padded[None, :], (state.batch_size, 1)))
            layers, logits = self._prime_ids(state.layers, batch_ids, tf.constant(mask))
            state = GenState(tuple((h, c) for h, c in layers), logits, state.chars + len(piece))
        return state

    def warm_up(self) -> None:
        """Compile what a first reply needs: short seeds' priming (beside) and the generation chunk."""
        import threading

        short_seeds = threading.Thread(target=self._warm_buckets, args=(PRIME_BUCKETS[:2],))
        short_seeds.start()
        for _ in self.stream(self.initial_state(), SampleConfig(max_chars=1, stop=()), seed=1):
            pass
        short_seeds.join()

    def warm_up_rest(self, closing) -> None:
        """Compile the longer seeds' priming, one shape at a time, unless `closing` is set."""
        for bucket in PRIME_BUCKETS[2:]:
            if closing.is_set():
                return
            self._warm_buckets((bucket,))

    def _warm_buckets(self, buckets) -> None:
        for bucket in buckets:
            self.prime_ids(self.initial_state(), np.zeros(bucket, np.int32))

    # --- generation -----------------------------------------------------------------------------

    def stream(self, state: GenState, settings: SampleConfig, seed: int,
               constraint: Constraint | None = None) -> "Stream | ConstrainedStream":
        if constraint is not None:
            return ConstrainedStream(self, state, settings, seed, constraint)
        return Stream(self, state, settings, seed)

    def sample(self, state: GenState, settings: SampleConfig, seed: int, n: int, constraint=None) -> list[str]:
        """`n` samples in parallel from the same starting state (row 0 of `state`); one after another
        under a constraint, which steps a character at a time."""
        if constraint is not None and constraint() is not None:
            return super().sample(state, settings, seed, n, constraint)
        batch = self.repeat(state, n)
        texts = [""] * n
        done = [False] * n
        settings_t = settings_tensors(settings)
        step = 0
        while not all(done) and step < settings.max_chars:
            ids, _, layers, logits = self._chunk(batch.layers, batch.logits, settings_t,
                                                 tf.constant([seed, step], tf.int32))
            batch = GenState(layers, logits, batch.chars + CHUNK)
            for row, row_ids in enumerate(ids.numpy()):
                for char in self.vocab.text_from_ids(row_ids):
                    if done[row] or len(texts[row]) >= settings.max_chars:
                        done[row] = True
                        break
                    texts[row] += char
                    if any(texts[row].endswith(stop) for stop in settings.stop if stop):
                        done[row] = True
            step += CHUNK
        return texts

    def score(self, text: str):
        """Per-character losses on `text`, read as parallel streams (see `charbot eval`)."""
        from charbot.model.evaluate import score_text

        return score_text(self.model, self.vocab, text)


class Stream:
    """Iterate for `Token`s; `state` always matches the tokens yielded so far.

    Ends at a stop sequence (included in the text), at `max_chars`, or when the consumer stops.
    """

    def __init__(self, engine: TFEngine, state: GenState, settings: SampleConfig, seed: int):
        self.engine = engine
        self.settings = settings
        self.seed = seed
        self.text = ""
        self.stopped_by = "interrupted"  # until the stream ends by itself
        self._start = state  # state at the start of the current chunk
        self._chunk_ids: list[int] = []  # ids of the current chunk yielded so far

    @property
    def state(self) -> GenState:
        """The state after exactly the characters yielded so far."""
        return self.engine.prime_ids(self._start, self._chunk_ids)

    def __iter__(self):
        settings = self.settings
        settings_t = settings_tensors(settings)
        stops = [stop for stop in settings.stop if stop]
        vocab = self.engine.vocab
        step = 0
        while len(self.text) < settings.max_chars:
            start = self._start
            ids, probs, layers, logits = self.engine._chunk(
                start.layers, start.logits, settings_t, tf.constant([self.seed, step], tf.int32)
            )
            for char_id, prob in zip(ids.numpy()[0], probs.numpy()[0]):
                char = vocab.chars[char_id]
                self._chunk_ids.append(int(char_id))
                self.text += char
                yield Token(char, float(prob))
                if any(self.text.endswith(stop) for stop in stops):
                    self.stopped_by = "stop"
                    return
                if len(self.text) >= settings.max_chars:
                    self.stopped_by = "length"
                    return
            self._start = GenState(tuple(layers), logits, start.chars + CHUNK)
            self._chunk_ids = []
            step += CHUNK
        self.stopped_by = "length"


class ConstrainedStream:
    """A stream under a `Constraint`: one compiled call a character, the constraint's mask applied to the
    logits before TFP samples. Slower than the chunk (a Python step a character), so used only with one."""

    def __init__(self, engine: TFEngine, state: GenState, settings: SampleConfig, seed: int, constraint: Constraint):
        self.engine, self.settings, self.seed, self.constraint = engine, settings, seed, constraint
        self.state = GenState(state.layers, state.logits[:1], state.chars)
        self.text = ""
        self.stopped_by = "interrupted"

    def __iter__(self):
        settings_t, chars, step = settings_tensors(self.settings), self.engine.vocab.chars, 0
        while len(self.text) < self.settings.max_chars:
            start = self.state
            allowed = self.constraint.allowed(np.asarray(start.logits)[0])
            mask = tf.ones_like(start.logits, tf.bool) if allowed is None else tf.constant(allowed[None])
            chosen, prob, layers, logits = self.engine._one(start.layers, start.logits, settings_t,
                                                            tf.constant([self.seed, step], tf.int32), mask)
            char = chars[int(chosen[0])]
            self.state, self.text, step = GenState(tuple(layers), logits, start.chars + 1), self.text + char, step + 1
            self.constraint.advance(char)
            yield Token(char, float(prob[0]))
            if self.constraint.finished or any(self.text.endswith(s) for s in self.settings.stop if s):
                self.stopped_by = "stop"
                return
        self.stopped_by = "length"


def _prime_scan(model, states, ids, mask):
    """Feed `ids` through the LSTM layers; the state after the last id and the logits there.

    Args:
        states: ((h, c), ...) each [batch, units].
        ids: [batch, time] int32, left-padded.
        mask: [time] float32, 0 where `ids` is padding (the state passes through unchanged).
    """
    x = tf.transpose(model.embedding(ids), [1, 0, 2])  # [time, batch, embedding]
    new_states = []
    for index, (lstm, (h, c)) in enumerate(zip(model.lstms, states)):
        weights = lstm.cell
        projected = tf.einsum("tbe,eg->tbg", x, weights.kernel) + weights.bias  # [time, batch, 4 * units]

        def step(carry, inputs, recurrent=weights.recurrent_kernel, norm=model.norm(index)):
            h, c = carry
            xt, keep = inputs
            h_next, c_next = cell(xt + tf.matmul(h, recurrent), c, norm)
            return keep * h_next + (1.0 - keep) * h, keep * c_next + (1.0 - keep) * c

        hs, cs = tf.scan(step, (projected, mask), initializer=(h, c))  # [time, batch, units] each
        x = hs
        new_states.append((hs[-1], cs[-1]))
    return tuple(new_states), model.head(x[-1])
