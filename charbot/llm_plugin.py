"""The `llm` plugin: `llm -m charbot "ROMEO:" -o temperature 0.3 -o max_chars 300`.

Registered through the `llm` entry point group (see pyproject.toml). The model loads on first use,
not when `llm` starts. In a conversation (`llm chat -m charbot`, or `-c`), the LSTM state after each
reply is kept, so the next turn continues from it; a conversation this process has not seen (one
continued from llm's log) is read again from its turns. It calls the same engine the chat calls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import llm
from pydantic import Field, field_validator, model_validator

if TYPE_CHECKING:  # llm loads its plugins at start-up: the engines come only with a model
    from charbot.generate.base import Engine


def _described(field: str) -> str:
    """The settings table's description of `field`, with its default: the one place both are written."""
    from charbot.config import SampleConfig
    from charbot.generate.settings import SETTINGS

    row = next(row for row in SETTINGS if row.field == field)
    return f"{row.description} (default {row.show(getattr(SampleConfig(), field))})"


@llm.hookimpl
def register_models(register):
    register(Charbot())


class Charbot(llm.Model):
    model_id = "charbot"
    can_stream = True

    class Options(llm.Options):
        temperature: Optional[float] = Field(default=None, description=_described("temperature"))
        max_chars: Optional[int] = Field(default=None, description=_described("max_chars"))
        top_k: Optional[int] = Field(default=None, description=_described("top_k"))
        top_p: Optional[float] = Field(default=None, description=_described("top_p"))
        min_p: Optional[float] = Field(default=None, description=_described("min_p"))
        random_seed: Optional[int] = Field(default=None, description=_described("seed"))
        stop: Optional[str] = Field(default=None, description=_described("stop"))
        form: Optional[str] = Field(default=None, description=_described("form"))
        acrostic: Optional[str] = Field(default=None, description=_described("acrostic"))
        rhyme: Optional[bool] = Field(default=None, description=_described("rhyme"))
        checkpoint: Optional[str] = Field(default=None, description="checkpoint folder, run folder or shipped name")
        runtime: Optional[str] = Field(default=None, description="litert (default) or tf")

        @field_validator("stop")
        @classmethod
        def _unescape(cls, value):
            return None if value is None else value.replace("\\n", "\n").replace("\\t", "\t")

        @model_validator(mode="after")
        def _check(self):
            self.settings()  # the rules of the flags and the chat, so a bad value fails before loading
            return self

        def settings(self):
            from charbot.errors import CharbotError
            from charbot.generate.settings import SETTINGS, checked

            given = {row.field: getattr(self, "random_seed" if row.field == "seed" else row.field) for row in SETTINGS}
            given["stop"] = self.stop or ()  # as the API: no stop sequence unless one is given
            try:
                return checked(**{name: value for name, value in given.items() if value is not None})
            except CharbotError as error:
                raise ValueError(str(error)) from None

    def __init__(self):
        self._engines: dict[tuple, Engine] = {}  # (checkpoint, runtime) options -> engine, loaded on first use
        self._states: dict = {}  # conversation id -> (responses so far, GenState after the last reply)

    def _engine(self, checkpoint: str | None, runtime: str | None) -> "Engine":
        key = (checkpoint, runtime)
        if key not in self._engines:
            from charbot.generate.loading import load_engine

            self._engines[key] = load_engine(checkpoint, runtime or "auto")[0]
        return self._engines[key]

    def execute(self, prompt, stream, response, conversation):
        from charbot.errors import CharbotError
        from charbot.generate.forms import constraint_for
        from charbot.generate.state import seed_or_new

        options = prompt.options
        engine = self._engine(options.checkpoint, options.runtime)
        settings = options.settings()
        try:
            constraint = constraint_for(settings, engine.vocab, prompt.prompt or "")
        except CharbotError as error:
            raise llm.ModelError(str(error)) from None
        state = self._history(engine, conversation)
        state, _ = engine.prime(state, prompt.prompt or "")
        reply = engine.stream(state, settings, seed_or_new(settings.seed), constraint)
        for token in reply:
            yield token.text
        if conversation is not None:
            self._states[conversation.id] = (len(conversation.responses) + 1, reply.state)

    def _history(self, engine, conversation):
        """The state after the conversation so far: kept from the last reply, or read again."""
        if conversation is None or not conversation.responses:
            return engine.fresh_state()
        kept = self._states.get(conversation.id)
        if kept and kept[0] == len(conversation.responses):
            return kept[1]
        state = engine.fresh_state()
        for earlier in conversation.responses:
            state = engine.prime(state, (earlier.prompt.prompt or "") + earlier.text())[0]
        return state
