"""The `llm` plugin: `llm -m charbot "ROMEO:" -o temperature 0.3 -o max_chars 300`.

Registered through the `llm` entry point group (see pyproject.toml). The model loads on first use,
not when `llm` starts. In a conversation (`llm chat -m charbot`, or `-c`), the LSTM state after each
reply is kept, so the next turn continues from it; a conversation this process has not seen (one
continued from llm's log) is read again from its turns. It calls the same engine the chat calls.
"""

from __future__ import annotations

from typing import Optional

import llm
from pydantic import Field, field_validator, model_validator


@llm.hookimpl
def register_models(register):
    register(Charbot())


class Charbot(llm.Model):
    model_id = "charbot"
    can_stream = True

    class Options(llm.Options):
        temperature: Optional[float] = Field(default=None, description="0 = greedy (default 0.6)")
        max_chars: Optional[int] = Field(default=None, description="length limit (default 500)")
        top_k: Optional[int] = Field(default=None, description="sample from the K most likely characters")
        top_p: Optional[float] = Field(default=None, description="nucleus sampling")
        min_p: Optional[float] = Field(default=None, description="drop characters below P x the best")
        random_seed: Optional[int] = Field(default=None, description="reproducible text")
        stop: Optional[str] = Field(default=None, description="end the reply after this text (\\n for newline)")
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
            from charbot.generate.settings import checked

            given = {"temperature": self.temperature, "max_chars": self.max_chars, "top_k": self.top_k,
                     "top_p": self.top_p, "min_p": self.min_p, "seed": self.random_seed}
            try:
                return checked(stop=self.stop, **{k: v for k, v in given.items() if v is not None})
            except CharbotError as error:
                raise ValueError(str(error)) from None

    def __init__(self):
        self._engines: dict = {}  # (checkpoint, runtime) options -> Engine, loaded on first use
        self._states: dict = {}  # conversation id -> (responses so far, GenState after the last reply)

    def _engine(self, checkpoint: str | None, runtime: str | None):
        key = (checkpoint, runtime)
        if key not in self._engines:
            from charbot.generate.loading import load_engine

            self._engines[key] = load_engine(checkpoint, runtime or "auto")[0]
        return self._engines[key]

    def execute(self, prompt, stream, response, conversation):
        from charbot.generate.state import new_seed

        options = prompt.options
        engine = self._engine(options.checkpoint, options.runtime)
        state = self._history(engine, conversation)
        state, _ = engine.prime(state, prompt.prompt or "")
        settings = options.settings()
        reply = engine.stream(state, settings, settings.seed if settings.seed is not None else new_seed())
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
