"""The `llm` plugin: `llm -m charbot "ROMEO:" -o temperature 0.3 -o max_chars 300`.

Registered through the `llm` entry point group (see pyproject.toml). The model loads on first use,
not when `llm` starts. In a conversation (`llm chat -m charbot`, or `-c`), the LSTM state after each
reply is kept, so the next turn continues from it; a conversation this process has not seen (one
continued from llm's log) is read again from its turns. It calls the same engine the chat calls.
"""

from __future__ import annotations

from typing import Optional

import llm
from pydantic import Field, field_validator

from charbot.config import MAX_CHARS_LIMIT


@llm.hookimpl
def register_models(register):
    register(Charbot())


class Charbot(llm.Model):
    model_id = "charbot"
    can_stream = True

    class Options(llm.Options):
        temperature: Optional[float] = Field(default=None, ge=0, le=100, description="0 = greedy (default 0.6)")
        max_chars: Optional[int] = Field(default=None, ge=1, le=MAX_CHARS_LIMIT, description="length limit (default 500)")
        top_k: Optional[int] = Field(default=None, ge=1, description="sample from the K most likely characters")
        top_p: Optional[float] = Field(default=None, gt=0, le=1, description="nucleus sampling")
        min_p: Optional[float] = Field(default=None, ge=0, lt=1, description="drop characters below P x the best")
        random_seed: Optional[int] = Field(default=None, ge=0, lt=2**31 - 1, description="reproducible text")
        stop: Optional[str] = Field(default=None, description="end the reply after this text (\\n for newline)")
        checkpoint: Optional[str] = Field(default=None, description="checkpoint folder, run folder or shipped name")

        @field_validator("stop")
        @classmethod
        def _unescape(cls, value):
            return None if value is None else value.replace("\\n", "\n").replace("\\t", "\t")

    def __init__(self):
        self._engines: dict = {}  # checkpoint option -> Engine, loaded on first use
        self._states: dict = {}  # conversation id -> (responses so far, GenState after the last reply)

    def _engine(self, checkpoint: str | None):
        if checkpoint not in self._engines:
            from charbot.engine import load_engine

            self._engines[checkpoint] = load_engine(checkpoint)[0]
        return self._engines[checkpoint]

    def execute(self, prompt, stream, response, conversation):
        from charbot.config import SampleConfig
        from charbot.engine import new_seed

        options = prompt.options
        engine = self._engine(options.checkpoint)
        state = self._history(engine, conversation)
        state, _ = engine.prime(state, prompt.prompt or "")
        defaults = SampleConfig()
        settings = SampleConfig(
            temperature=defaults.temperature if options.temperature is None else options.temperature,
            max_chars=options.max_chars or defaults.max_chars, top_k=options.top_k or 0,
            top_p=options.top_p or 1.0, min_p=options.min_p or 0.0, stop=(options.stop,) if options.stop else ())
        reply = engine.stream(state, settings, options.random_seed if options.random_seed is not None else new_seed())
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
