"""A chat session: the model's memory across turns, the runtime settings, and the turn history.

The session owns the engine's state. Each turn remembers the state before the user's seed, after the
seed and after the reply, so `/undo` and `/regen` are just a matter of picking an earlier state.
The state is advanced only by text the user actually saw: a reply stopped by Ctrl-C keeps exactly
the characters that were printed. This module does no terminal input and no printing of its own:
it hands tokens to a renderer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from charbot.config import SampleConfig
from charbot.errors import CharbotError
from charbot.generate.base import Engine, Renderer
from charbot.generate.state import GenState


@dataclass
class Turn:
    seed_text: str
    reply: str
    before: GenState  # before the user's seed
    after_seed: GenState  # after the seed, where the reply started
    after: GenState  # after the reply (as far as it was shown)
    seed: int
    stopped_by: str


@dataclass
class Session:
    engine: Engine  # either runtime, or the tests' fake: all derive from generate.base.Engine
    model_name: str
    settings: SampleConfig = field(default_factory=SampleConfig)
    heat: bool = False
    turns: list[Turn] = field(default_factory=list)
    last_speed: float = 0.0  # characters per second of the last reply
    state: Any = None  # the GenState now: a fresh one unless given
    speaker: str | None = None  # dialogue mode (/as): each line the user types is a speech of this speaker
    addressee: str | None = None  # /to: the model answers as this speaker (else as whoever it chooses)

    def __post_init__(self):
        if self.state is None:
            self.state = self.engine.fresh_state()

    @property
    def memory_chars(self) -> int:
        return self.state.chars

    def next_seed(self) -> int:
        from charbot.generate.state import seed_or_new

        return seed_or_new(self.settings.seed)

    def say(self, line: str, renderer: Renderer, seed: int | None = None) -> Turn:
        """A line the user typed: a plain seed, or in dialogue mode a speech in the corpus layout."""
        if self.speaker is None or not line:
            return self.reply(line, renderer, seed)
        fed = f"{self.speaker}:\n{line}\n\n" + (f"{self.addressee}:\n" if self.addressee else "")
        return self.reply(fed, renderer, seed, stop=("\n\n",))  # the reply is one speech

    def reply(self, seed_text: str, renderer: Renderer, seed: int | None = None, stop: tuple | None = None) -> Turn:
        """Feed `seed_text`, stream a reply to `renderer`, remember the turn. Ctrl-C ends it early."""
        from charbot.generate.state import PRIME_TAIL

        before = self.state
        if len(seed_text) > PRIME_TAIL:
            renderer.note(f"reading the last {PRIME_TAIL:,} of {len(seed_text):,} characters: the model's "
                          f"memory is shorter than that")
        # Ctrl-C while priming leaves the session as it was: nothing is changed before the reply starts.
        after_seed, skipped = self.engine.prime(before, seed_text)
        if skipped:
            from charbot.model.vocab import describe_chars

            renderer.warn(f"skipped characters the model does not know: {describe_chars(skipped)}")
        return self._stream(seed_text, before, after_seed, renderer, seed, stop)

    def regenerate(self, renderer: Renderer) -> Turn:
        """Sample the last reply again, from the same starting state, with a fresh seed."""
        if not self.turns:
            raise CharbotError("nothing to regenerate yet: type a line first")
        from charbot.generate.state import new_seed

        last = self.turns.pop()
        return self._stream(last.seed_text, last.before, last.after_seed, renderer, new_seed())

    def undo(self) -> Turn:
        if not self.turns:
            raise CharbotError("nothing to undo")
        last = self.turns.pop()
        self.state = last.before
        return last

    def reset(self) -> None:
        self.state = self.engine.fresh_state()
        self.turns.clear()

    def _stream(self, seed_text: str, before: GenState, after_seed: GenState, renderer: Renderer, seed: int | None,
                stop: tuple | None = None) -> Turn:
        from charbot.generate.forms import constraint_for

        settings = self.settings if stop is None else self.settings.replace(stop=stop)
        constraint = constraint_for(settings, self.engine.vocab, seed_text)  # a seed that breaks a form: refused
        seed = self.next_seed() if seed is None else seed
        renderer.seed(seed_text)
        stream = self.engine.stream(after_seed, settings, seed, constraint)
        shown = ""
        started = time.perf_counter()
        try:
            for token in stream:
                renderer.token(token)
                shown += token.text
            seconds = time.perf_counter() - started
            after, stopped_by = stream.state, stream.stopped_by
        except KeyboardInterrupt:
            seconds = time.perf_counter() - started
            # Only what reached the screen counts; re-prime from the reply's start with exactly that.
            after, stopped_by = self.engine.prime(after_seed, shown)[0], "interrupted"
        self.last_speed = len(shown) / seconds if seconds > 0 and shown else 0.0
        renderer.end_line(seed_text + shown)
        turn = Turn(seed_text, shown, before, after_seed, after, seed, stopped_by)
        self.turns.append(turn)
        self.state = after
        return turn

    def transcript(self) -> str:
        return "".join(turn.seed_text + turn.reply + ("" if turn.reply.endswith("\n") else "\n") for turn in self.turns)
