"""The engine seam: one base class for every runtime, the stream and renderer protocols, the constraint.

`Engine` holds what the runtimes share, once (where a session starts, priming text, the next characters'
probabilities, parallel samples, the loss); each runtime supplies the abstract rest: its empty state,
`prime_ids`, `stream` and `score`. The chat, `generate`, the API, the llm plugin and the tests' fake
engine are typed with this class and go through nothing else.

A `Constraint` is the sampler's one per-step argument: before each character it names the characters
allowed next (or None: any), then hears which one was chosen. Poem forms, acrostics and rhymes are
constraints (`generate.forms`); the engines honour any constraint without knowing what it enforces.

This module computes no model and imports no TensorFlow (an import-linter contract checks it).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable, Iterator, Protocol

import numpy as np

from charbot.config import SampleConfig
from charbot.generate import npsampler
from charbot.generate.state import GenState, Token
from charbot.model.score import Score
from charbot.model.vocab import Vocabulary


def speech_start(vocab: Vocabulary) -> str:
    """What a fresh memory is primed with: a blank line, where a speech (or a poem) begins in the corpus."""
    return "\n\n" if "\n" in vocab else ""


class Constraint(Protocol):
    """Which characters may come next, step by step. `allowed` sees the model's logits for the step."""

    finished: bool  # nothing more may follow: the stream ends there (stopped_by "stop")

    def allowed(self, logits: np.ndarray | None) -> np.ndarray | None: ...  # [vocab] bool, or None for any
    def advance(self, char: str) -> None: ...


class Stream(Protocol):
    """Iterate for `Token`s; `state` always matches the tokens yielded so far."""

    stopped_by: str  # "stop", "length" or "interrupted"

    @property
    def text(self) -> str: ...
    @property
    def state(self) -> GenState: ...
    def __iter__(self) -> Iterator[Token]: ...


class Renderer(Protocol):
    """Where a reply goes: the terminal (`render.Renderer`) or a collector (the API)."""

    def seed(self, text: str) -> None: ...
    def token(self, token: Token) -> None: ...
    def end_line(self, text: str) -> None: ...
    def note(self, message: str) -> None: ...
    def warn(self, message: str) -> None: ...


class Engine(ABC):
    """What the chat, `generate`, the API and the llm plugin ask of a model, whichever runtime runs it."""

    runtime: str  # "tf", "litert" (or "fake" in tests)
    vocab: Vocabulary

    @abstractmethod
    def initial_state(self, batch_size: int = 1) -> GenState:
        """Empty memory: zero LSTM state and uniform next-character logits."""

    @abstractmethod
    def prime_ids(self, state: GenState, ids) -> GenState:
        """Feed `ids` (only the last PRIME_TAIL of a longer text; `chars` still counts them all)."""

    @abstractmethod
    def stream(self, state: GenState, settings: SampleConfig, seed: int,
               constraint: Constraint | None = None) -> Stream:
        """Characters sampled from `state` (row 0) with `settings`; `constraint` limits each step."""

    @abstractmethod
    def score(self, text: str) -> Score:
        """The model's loss on every character of `text` after the first, the state carried through it."""

    def warm_up(self) -> None:
        """Prepare what a first reply needs (compiled code, buffers). Nothing, unless a runtime needs it."""

    def warm_up_rest(self, closing) -> None:
        """Prepare what later, longer inputs need, in the background; stop once `closing` (an Event) is set."""

    def fresh_state(self) -> GenState:
        """Where a session starts: the empty memory primed with a blank line, as a speech begins."""
        return self.start("")[0]

    def start(self, text: str) -> tuple[GenState, str]:
        """`prime(fresh_state(), text)` in one call. Returns the state and the skipped unknown characters."""
        return self.prime(self.initial_state(), speech_start(self.vocab) + text)

    def prime(self, state: GenState, text: str) -> tuple[GenState, str]:
        """Feed `text`. Returns the new state and the skipped unknown characters."""
        encoded = self.vocab.encode(text)
        return self.prime_ids(state, encoded.ids), encoded.skipped

    def sample(self, state: GenState, settings: SampleConfig, seed: int, n: int,
               constraint: Callable[[], Constraint | None] | None = None) -> list[str]:
        """`n` samples from the same starting state (row 0), one stream each, the first from `seed`.
        `constraint` makes each stream's constraint afresh."""
        make = constraint or (lambda: None)
        streams = [self.stream(state, settings, _row_seed(seed, row), make()) for row in range(n)]
        return ["".join(token.text for token in stream) for stream in streams]

    def top_next(self, state: GenState, k: int = 10) -> list[tuple[str, float]]:
        """The `k` most likely next characters and their probabilities (row 0)."""
        probs = npsampler.softmax(np.asarray(state.logits, np.float64)[0])
        order = np.argsort(-probs)[:k]
        return [(self.vocab.chars[i], float(probs[i])) for i in order]

    def loss(self, text: str) -> float:
        """Nats per character on `text`, the state carried through it (see `charbot eval`)."""
        return self.score(text).nats


def _row_seed(seed: int, row: int) -> int:
    return (seed * 1_000_003 + row) % (2**31 - 1) if row else seed
