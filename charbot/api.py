"""The public Python API: load a model, generate or stream text, hold a conversation, score, train.

    import charbot
    model = charbot.load()                      # the shipped model; or a checkpoint, run folder or name
    print(model.generate("ROMEO:", temperature=0.5, max_chars=200, random_seed=1))
    chat = model.conversation()
    print(chat.say("JULIET:\\nWhere art thou?\\n\\n"))

It is a thin layer over what the chat and `charbot generate` use (the engine, the session, the
evaluator, the trainer); it adds no behaviour of its own. The seed text is `text`; the random seed is
`random_seed`. TensorFlow is imported when a model is loaded, not when charbot is imported.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Iterator, Sequence

from charbot.config import SampleConfig


def _settings(temperature: float, max_chars: int, top_k: int, top_p: float, min_p: float,
              stop: str | Sequence[str] | None, random_seed: int | None) -> SampleConfig:
    """One SampleConfig from keyword arguments, checked by the same rules as the flags."""
    from charbot.errors import CharbotError
    from charbot.generate.settings import checked

    try:
        return checked(temperature=temperature, max_chars=max_chars, top_k=top_k, top_p=top_p, min_p=min_p,
                       stop=stop, seed=random_seed)
    except CharbotError as error:
        raise ValueError(str(error)) from None


class Model:
    """A loaded checkpoint. Make one with `charbot.load`."""

    def __init__(self, engine, checkpoint):
        self._engine = engine
        self.checkpoint: Path = checkpoint.path
        self.vocabulary: str = engine.vocab.chars
        self.validation_loss: float | None = (checkpoint.metrics.get("best") or {}).get("val_loss")

    def generate(self, text: str = "", *, temperature: float = 0.6, max_chars: int = 500, top_k: int = 0,
                 top_p: float = 1.0, min_p: float = 0.0, stop: str | Sequence[str] | None = None,
                 random_seed: int | None = None, n: int = 1) -> str | list[str]:
        """The continuation of `text` (without `text` itself); a list of `n` when n > 1."""
        from charbot.generate.state import new_seed

        settings = _settings(temperature, max_chars, top_k, top_p, min_p, stop, random_seed)
        state, _ = self._engine.start(text)
        seed = settings.seed if settings.seed is not None else new_seed()
        if n > 1:
            return self._engine.sample(state, settings, seed, n)
        return "".join(token.text for token in self._engine.stream(state, settings, seed))

    def stream(self, text: str = "", *, temperature: float = 0.6, max_chars: int = 500, top_k: int = 0,
               top_p: float = 1.0, min_p: float = 0.0, stop: str | Sequence[str] | None = None,
               random_seed: int | None = None) -> Iterator[str]:
        """The continuation of `text`, one character at a time, as it is made."""
        from charbot.generate.state import new_seed

        settings = _settings(temperature, max_chars, top_k, top_p, min_p, stop, random_seed)
        state, _ = self._engine.start(text)
        seed = settings.seed if settings.seed is not None else new_seed()
        for token in self._engine.stream(state, settings, seed):
            yield token.text

    def conversation(self, **settings) -> "Conversation":
        """A conversation whose memory (the LSTM state) carries from one `say` to the next."""
        return Conversation(self._engine, settings)

    def loss(self, text: str) -> float:
        """Nats per character of the model on `text`, the state carried through it (see `charbot eval`)."""
        return self._engine.loss(text)


class _Collect:
    """The renderer a conversation hands to the session: it keeps the reply and shows nothing."""

    def __init__(self):
        self.reply = ""

    def seed(self, text):
        pass

    def token(self, token):
        self.reply += token.text

    def end_line(self, text):
        pass

    def note(self, message):
        pass

    warn = note


class Conversation:
    """Turns with memory, as in the chat: `say`, `undo`, `snapshot` / `restore`, `transcript`."""

    def __init__(self, engine, settings: dict):
        from charbot.chat.session import Session

        defaults = {"stop": "\n\n", **settings}
        self._session = Session(engine, "api", settings=_settings(**{**_DEFAULTS, **defaults}))

    def say(self, text: str = "", random_seed: int | None = None) -> str:
        """Feed `text`, then the model's reply (ending at the stop sequence or the length limit)."""
        renderer = _Collect()
        self._session.reply(text, renderer, seed=random_seed)
        return renderer.reply

    def undo(self) -> None:
        """Forget the last turn: the memory is as it was before it."""
        self._session.undo()

    def snapshot(self):
        """The conversation as it is now (an immutable value), for `restore`."""
        return (self._session.state, tuple(self._session.turns))

    def restore(self, snapshot) -> None:
        self._session.state, turns = snapshot
        self._session.turns = list(turns)

    @property
    def transcript(self) -> str:
        return self._session.transcript()


_DEFAULTS = {**{name: getattr(SampleConfig(), name) for name in ("temperature", "max_chars", "top_k", "top_p",
                                                                  "min_p")}, "stop": None, "random_seed": None}


def load(checkpoint: str | Path | None = None, runtime: str = "auto") -> Model:
    """A model from a checkpoint folder, a run folder (its best/) or a shipped name; None: the default.

    runtime: "litert" (the checkpoint's model.tflite, without TensorFlow), "tf", or "auto" (litert where
    installed)."""
    from charbot.generate.loading import load_engine

    engine, data = load_engine(checkpoint, runtime)
    return Model(engine, data)


def train(corpus: str | Path, out: str | Path, **settings):
    """Train on `corpus` (a file, or 'shakespeare') into the run folder `out`; returns what happened.

    `settings` are the fields of `ModelConfig` and `TrainConfig` (rnn_units, num_layers, dropout,
    epochs, batch_size, seq_len, learning_rate, precision, ...); `resume=True` continues a run.
    """
    from charbot.config import ModelConfig, TrainConfig
    from charbot.corpus import load_corpus
    from charbot.training.loop import train as run

    resume = settings.pop("resume", False)
    model_fields = {f.name for f in dataclasses.fields(ModelConfig)}
    train_fields = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = set(settings) - model_fields - train_fields
    if unknown:
        raise TypeError(f"unknown training settings: {', '.join(sorted(unknown))}")
    model_config = ModelConfig(**{k: v for k, v in settings.items() if k in model_fields})
    train_config = TrainConfig(corpus=str(corpus), **{k: v for k, v in settings.items() if k in train_fields})
    result = run(load_corpus(str(corpus)), model_config, train_config, Path(out), resume=resume)
    from charbot.model.export import export_best

    export_best(Path(out))  # best/ carries its model.tflite, so load() runs it on LiteRT at once
    return result
