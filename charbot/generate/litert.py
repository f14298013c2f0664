"""The LiteRT engine: the checkpoint's `model.tflite` run by `ai_edge_litert`, with no TensorFlow loaded.

It does what the TensorFlow engine does (prime with the PRIME_TAIL rule, stream with a state that
matches what was shown, snapshot and restore, parallel samples, the next characters' probabilities,
scoring) one character per call of the "step" signature, sampling in NumPy (`npsampler`). The state it carries
is `state.GenState` with NumPy arrays; states made by the TensorFlow engine are accepted as they are.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from charbot.errors import CharbotError
from charbot.generate import npsampler
from charbot.generate.base import Constraint, Engine
from charbot.generate.state import PRIME_TAIL, GenState, Token
from charbot.system.quiet import quiet

class _Signature:
    """The model's "step" signature: ids and states in, (logits, states) out, as new arrays.

    `SignatureRunner.__call__` resizes and re-allocates every tensor on every call, which costs more than
    a step of the model; the shapes here never change, so they are allocated once (by the runner's first
    call) and later calls only set, invoke and get. ai-edge-litert is pinned, so its wrapper is stable."""

    def __init__(self, interpreter, key: str):
        self.runner = interpreter.get_signature_runner(key)
        inputs, outputs = self.runner.get_input_details(), self.runner.get_output_details()
        self.runner(**{name: np.zeros(d["shape"], d["dtype"]) for name, d in inputs.items()})
        self.rows = int(inputs["ids"]["shape"][0])
        self._wrapper, self._subgraph = self.runner._interpreter_wrapper, self.runner._subgraph_index
        self._ids, self._states = inputs["ids"]["index"], inputs["states"]["index"]
        self._logits, self._new_states = outputs["logits"]["index"], outputs["states"]["index"]

    def __call__(self, ids: np.ndarray, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        wrapper, subgraph = self._wrapper, self._subgraph
        if len(ids) != self.rows:  # the "batch" signature takes any number of rows: resized when it changes
            self.runner(ids=ids, states=states)
            self.rows = len(ids)
        wrapper.SetTensor(self._ids, ids, subgraph)
        wrapper.SetTensor(self._states, states, subgraph)
        wrapper.Invoke(subgraph)
        return wrapper.GetTensor(self._logits, subgraph), wrapper.GetTensor(self._new_states, subgraph)


def _interpreter(path: Path, threads: int | None, written_by: str, content: bytes | None):
    from importlib.metadata import version

    from ai_edge_litert.interpreter import Interpreter

    try:
        with quiet():  # "INFO: Created TensorFlow Lite XNNPACK delegate" is noise in a terminal program
            source = {"model_content": content} if content is not None else {"model_path": str(path)}
            interpreter = Interpreter(**source, num_threads=threads)
            step = _Signature(interpreter, "step")
            batch = _Signature(interpreter, "batch") if "batch" in interpreter.get_signature_list() else None
    except (ValueError, RuntimeError, KeyError) as error:  # KeyError: a signature without ids, states or logits
        raise CharbotError(f"LiteRT model {path} cannot be read by ai-edge-litert {version('ai-edge-litert')} "
                           f"(written by the converter of TensorFlow {written_by}): {str(error).splitlines()[0]}; "
                           f"export it again with 'charbot export'") from None
    return interpreter, step, batch


class LiteRTEngine(Engine):
    runtime = "litert"

    def __init__(self, path: Path, vocab, layers: int, units: int, threads: int | None = None,
                 written_by: str = "unknown", content: bytes | None = None):
        """Args:
            written_by: the TensorFlow version whose converter wrote the file (for the error a bad file gives).
            content: the file's bytes when the caller has read them already (to check their sha256)."""
        self.path, self.vocab, self.layers, self.units = Path(path), vocab, layers, units
        threads = threads or min(4, len(os.sched_getaffinity(0)))  # two threads: 112 us a step, one: 162 (Zen 3)
        self.interpreter, self._step, self._batch = _interpreter(self.path, threads, written_by, content)
        self._check_shapes()

    def _check_shapes(self) -> None:
        details = self._step.runner.get_input_details()
        want = {"ids": [1], "states": [2 * self.layers, 1, self.units]}
        got = {name: list(detail["shape"]) for name, detail in details.items()}
        logits = list(self._step.runner.get_output_details()["logits"]["shape"])
        if got != want or logits != [1, len(self.vocab)]:
            raise CharbotError(f"LiteRT model {self.path} does not fit this checkpoint (inputs {got}, logits {logits}; "
                               f"expected {want}, [1, {len(self.vocab)}]): export it again with 'charbot export'")

    # --- state -------------------------------------------------------------------------------

    def initial_state(self, batch_size: int = 1) -> GenState:
        zeros = np.zeros([batch_size, self.units], np.float32)
        return GenState(tuple((zeros, zeros) for _ in range(self.layers)),
                        np.zeros([batch_size, len(self.vocab)], np.float32), 0)

    def prime_ids(self, state: GenState, ids) -> GenState:
        ids = np.asarray(ids, np.int32)
        chars = state.chars + len(ids)
        states, logits = _packed(state), np.asarray(state.logits, np.float32)[:1]
        for char_id in ids[-PRIME_TAIL:]:
            logits, states = self._step(np.array([char_id], np.int32), states)
        return _unpacked(states, logits, chars)

    # --- generation -----------------------------------------------------------------------------

    def stream(self, state: GenState, settings, seed, constraint: Constraint | None = None) -> "LiteStream":
        return LiteStream(self, state, settings, seed, constraint)

    @property
    def batches(self) -> bool:
        """Whether `step_rows` steps many streams in one call (exports since the "batch" signature)."""
        return self._batch is not None

    def step_rows(self, ids: np.ndarray, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One character for each of B streams at once: ids [B], states [2 * layers, B, units] -> logits
        [B, vocab], states. Each row's result is the one it gets alone (tests/test_litert.py)."""
        assert self._batch is not None  # callers ask `batches` first
        return self._batch(ids, states)

    def score(self, text: str):
        """`evaluate.Score` of `text` read as one stream from an empty memory (every character after the first)."""
        from charbot.model.score import Score

        started = time.perf_counter()
        encoded = self.vocab.encode(text)
        ids = np.asarray(encoded.ids, np.int32)
        losses = np.zeros(max(0, len(ids) - 1), np.float32)
        states = _packed(self.initial_state())
        for i, char_id in enumerate(ids[:-1]):
            logits, states = self._step(np.array([char_id], np.int32), states)
            logits = logits[0].astype(np.float64)
            top = logits.max()
            losses[i] = top + np.log(np.exp(logits - top).sum()) - logits[ids[i + 1]]
        return Score(len(losses), encoded.skipped, time.perf_counter() - started, 1, losses)


class LiteStream:
    """Iterate for `Token`s; `state` always matches the tokens yielded so far (it is stepped before each yield).

    The loop keeps the model's own arrays and makes a `GenState` only when `state` is read: this path
    runs once per character, and every microsecond of Python shows in the speed."""

    def __init__(self, engine: LiteRTEngine, state: GenState, settings, seed, constraint: Constraint | None = None):
        state = _row0(state)
        self.constraint = constraint
        self.engine, self.settings = engine, settings
        self._states, self._logits, self._chars = _packed(state), np.asarray(state.logits, np.float32)[:1], state.chars
        self.rng = np.random.default_rng(seed)
        self._pieces: list[str] = []  # the text so far (joined on demand: += on an attribute copies it whole)
        self.stopped_by = "interrupted"  # until the stream ends by itself
        self._stops = [stop for stop in settings.stop if stop]
        self._longest, self._tail = max(map(len, self._stops), default=0), ""
        self._ended, self._proposed = False, 0

    @property
    def state(self) -> GenState:
        return _unpacked(self._states, self._logits, self._chars)

    @property
    def text(self) -> str:
        return "".join(self._pieces)

    def __iter__(self):
        step, ids = self.engine._step, np.zeros(1, np.int32)
        while (char_id := self.propose()) is not None:
            ids[0] = char_id
            yield self.accept(*step(ids, self._states))

    def propose(self) -> int | None:
        """The next character's id, drawn from the current logits (and the constraint), or None once the
        stream has ended. `accept` must follow with the model's output for it: the stream's own loop calls
        the model for one row, `charbot serve` for many rows at once."""
        if self._ended or len(self._pieces) >= self.settings.max_chars:
            self.stopped_by = self.stopped_by if self._ended else "length"
            return None
        logits = self._logits[0]
        allowed = None if self.constraint is None else self.constraint.allowed(logits)
        self._proposed = npsampler.next_id(logits, self.settings, self.rng, allowed)
        return self._proposed

    def accept(self, logits: np.ndarray, states: np.ndarray) -> Token:
        """Take the model's output after the proposed character ([1, vocab], [2 * layers, 1, units])."""
        char_id, previous = self._proposed, self._logits[0]
        self._logits, self._states, self._chars = logits, states, self._chars + 1
        char = self.engine.vocab.chars[char_id]
        self._pieces.append(char)
        if self.constraint is not None:
            self.constraint.advance(char)
            self._ended = self.constraint.finished
        if self._longest:
            self._tail = (self._tail + char)[-self._longest:]
            self._ended = self._ended or any(self._tail.endswith(stop) for stop in self._stops)
        if self._ended:
            self.stopped_by = "stop"
        return Token(char, npsampler.probability(previous, char_id))


def _row0(state: GenState) -> GenState:
    if state.batch_size == 1:
        return state
    layers = tuple((np.asarray(h)[:1], np.asarray(c)[:1]) for h, c in state.layers)
    return GenState(layers, np.asarray(state.logits)[:1], state.chars)


def _packed(state: GenState) -> np.ndarray:
    """[2 * layers, 1, units] float32: the "states" input (rows h_0, c_0, h_1, c_1, ...; row 0 of the batch)."""
    return np.stack([np.asarray(t, np.float32)[:1] for pair in state.layers for t in pair])


def _unpacked(states: np.ndarray, logits: np.ndarray, chars: int) -> GenState:
    layers = tuple((states[2 * i], states[2 * i + 1]) for i in range(len(states) // 2))
    return GenState(layers, logits, chars)
