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

from typing import TYPE_CHECKING

from charbot.config import SampleConfig
from charbot.errors import CharbotError

if TYPE_CHECKING:  # importing charbot stays light: NumPy and the engines come with a model
    from charbot.generate.base import Engine


def _settings(**given) -> SampleConfig:
    """One SampleConfig from the keyword arguments that were given (None: the default), checked by the
    same rules as the flags; the defaults live in `SampleConfig` alone."""
    from charbot.errors import CharbotError
    from charbot.generate.settings import checked

    try:
        return checked(**{name: value for name, value in given.items() if value is not None})
    except CharbotError as error:
        raise ValueError(str(error)) from None


class Model:
    """A loaded checkpoint. Make one with `charbot.load`."""

    def __init__(self, engine: "Engine", checkpoint):
        self._engine = engine
        self.checkpoint: Path = checkpoint.path
        self.vocabulary: str = engine.vocab.chars
        self.validation_loss: float | None = (checkpoint.metrics.get("best") or {}).get("val_loss")

    def generate(self, text: str = "", *, temperature: float | None = None, max_chars: int | None = None,
                 top_k: int | None = None, top_p: float | None = None, min_p: float | None = None,
                 stop: str | Sequence[str] | None = None, form: str | None = None, acrostic: str | None = None,
                 rhyme: bool | None = None, random_seed: int | None = None, n: int = 1) -> str | list[str]:
        """The continuation of `text` (without `text` itself); a list of `n` when n > 1. Settings left at
        None take their defaults (`charbot.config.SampleConfig`), except `stop`: none unless given."""
        settings = _settings(temperature=temperature, max_chars=max_chars, top_k=top_k, top_p=top_p, min_p=min_p,
                             stop=stop or (), form=form, acrostic=acrostic, rhyme=rhyme, seed=random_seed)
        from charbot.generate.state import seed_or_new

        state, constraint = self._start(text, settings)
        if n > 1:
            return self._engine.sample(state, settings, seed_or_new(settings.seed), n, constraint)
        return "".join(token.text for token in self._engine.stream(state, settings, seed_or_new(settings.seed),
                                                                   constraint()))

    def stream(self, text: str = "", *, temperature: float | None = None, max_chars: int | None = None,
               top_k: int | None = None, top_p: float | None = None, min_p: float | None = None,
               stop: str | Sequence[str] | None = None, form: str | None = None, acrostic: str | None = None,
               rhyme: bool | None = None, random_seed: int | None = None) -> Iterator[str]:
        """The continuation of `text`, one character at a time, as it is made."""
        settings = _settings(temperature=temperature, max_chars=max_chars, top_k=top_k, top_p=top_p, min_p=min_p,
                             stop=stop or (), form=form, acrostic=acrostic, rhyme=rhyme, seed=random_seed)
        from charbot.generate.state import seed_or_new

        state, constraint = self._start(text, settings)
        for token in self._engine.stream(state, settings, seed_or_new(settings.seed), constraint()):
            yield token.text

    def _start(self, text: str, settings: SampleConfig):
        """The state after `text`, and what makes a stream's constraint (a poem form) from it."""
        from charbot.errors import CharbotError
        from charbot.generate.forms import constraint_for

        try:
            constraint_for(settings, self._engine.vocab, text)
        except CharbotError as error:
            raise ValueError(str(error)) from None
        state, _ = self._engine.start(text)
        return state, lambda: constraint_for(settings, self._engine.vocab, text)

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

    def __init__(self, engine: "Engine", settings: dict):
        from charbot.chat.session import Session

        settings = {"stop": "\n\n", **settings}
        if "random_seed" in settings:
            settings["seed"] = settings.pop("random_seed")
        self._session = Session(engine, "api", settings=_settings(**settings))

    def say(self, text: str = "", random_seed: int | None = None) -> str:
        """Feed `text`, then the model's reply (ending at the stop sequence or the length limit)."""
        renderer = _Collect()
        try:
            self._session.reply(text, renderer, seed=random_seed)
        except CharbotError as error:  # a seed that breaks a poem's form
            raise ValueError(str(error)) from None
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
    The run is placed as `charbot train` places it (`--strategy auto`) where TensorFlow has not started
    yet in this process; after that, logical CPU devices can no longer be made, and it runs on one device.
    """
    from charbot.config import ModelConfig, TrainConfig
    from charbot.corpus import load_corpus
    from charbot.training.distribute import place
    from charbot.training.loop import run_batch_size, train as run

    resume = settings.pop("resume", False)
    model_fields = {f.name for f in dataclasses.fields(ModelConfig)}
    train_fields = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = set(settings) - model_fields - train_fields
    if unknown:
        raise TypeError(f"unknown training settings: {', '.join(sorted(unknown))}")
    model_config = ModelConfig(**{k: v for k, v in settings.items() if k in model_fields})
    train_config = TrainConfig(corpus=str(corpus), **{k: v for k, v in settings.items() if k in train_fields})
    try:
        placement = place("auto", batch_size=run_batch_size(Path(out), resume, train_config.batch_size))
    except CharbotError:  # TensorFlow is running already: the CPU cannot be split now
        placement = place("one")
    result = run(load_corpus(str(corpus)), model_config, train_config, Path(out), resume=resume, placement=placement)
    from charbot.model.export import export_best

    export_best(Path(out))  # best/ carries its model.tflite, so load() runs it on LiteRT at once
    return result
