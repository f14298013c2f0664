"""A stand-in engine for chat tests: deterministic text, no TensorFlow."""

from __future__ import annotations

from dataclasses import dataclass

from charbot.generate.base import Engine
from charbot.generate.state import Token
from charbot.model.vocab import Vocabulary

VOCAB = Vocabulary.from_text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 :.,\n[]")


@dataclass(frozen=True)
class FakeState:
    text: str = ""

    @property
    def chars(self) -> int:
        return len(self.text)


class FakeStream:
    def __init__(self, engine, state, settings, seed):
        self.engine, self.start, self.settings, self.seed = engine, state, settings, seed
        self.text = ""
        self.stopped_by = "interrupted"

    @property
    def state(self):
        return self.engine.prime(self.start, self.text)[0]

    def __iter__(self):
        pattern = self.engine.reply_pattern.replace("{seed}", str(self.seed))
        i = 0
        while len(self.text) < self.settings.max_chars:
            if self.engine.interrupt_after is not None and len(self.text) == self.engine.interrupt_after:
                raise KeyboardInterrupt
            char = pattern[i % len(pattern)]
            i += 1
            self.text += char
            yield Token(char, 0.9 if char.isalpha() else 0.2)
            if any(self.text.endswith(stop) for stop in self.settings.stop if stop):
                self.stopped_by = "stop"
                return
        self.stopped_by = "length"


class FakeEngine(Engine):
    runtime = "fake"

    def __init__(self, reply_pattern="[la] la {seed}\n\n", interrupt_after=None):
        self.vocab = VOCAB
        self.reply_pattern = reply_pattern
        self.interrupt_after = interrupt_after
        self.streams = []

    def initial_state(self, batch_size=1):
        return FakeState("")

    def prime_ids(self, state, ids):
        return FakeState(state.text + self.vocab.text_from_ids(ids))

    def stream(self, state, settings, seed, constraint=None):
        stream = FakeStream(self, state, settings, seed)
        self.streams.append(stream)
        return stream

    def score(self, text):
        raise NotImplementedError("the fake engine scores nothing")

    def top_next(self, state, k=10):
        return [("a", 0.6), ("b", 0.3), ("\n", 0.1)][:k]


class ReadyLoader:
    """A loader whose model is already there."""

    def __init__(self, engine, checkpoint):
        import threading

        self.ready = threading.Event()
        self.ready.set()
        self.engine, self.checkpoint, self.error = engine, checkpoint, None
        self.notes, self.runtime = [], "tf"

    def wait(self):
        return self.engine, self.checkpoint
