"""Loading a model to generate with, in one place: name -> folder -> checkpoint -> engine.

`load_engine` is what the chat, `/model`, `generate`, the API and the llm plugin call. It resolves the
name (`model.names`), reads and checks the checkpoint (`model.checkpoint`) and builds the engine of the
runtime asked for. This module never imports TensorFlow itself: only the TensorFlow engine does.
"""

from __future__ import annotations

from charbot.errors import CharbotError
from charbot.model import checkpoint, names

RUNTIMES = ("auto", "litert", "tf")


def load_engine(name=None, runtime: str = "auto", note=None):
    """(Engine, CheckpointData) for a checkpoint folder, run folder or shipped name (None: the default).

    Args:
        runtime: "tf" (TensorFlow), "litert" (LiteRT), or "auto" (LiteRT where it is installed).
        note: note(text) receives one-line notes, such as an export made on first use.
    """
    if runtime not in RUNTIMES:
        raise CharbotError(f"unknown runtime {runtime!r}: use {', '.join(RUNTIMES)}")
    data = checkpoint.load(names.resolve(name))
    return _tf_engine(data), data


def _tf_engine(data):
    from charbot.generate.engine import Engine
    from charbot.model import network

    model = network.build_model(data.model_config)
    network.assign_weights(model, data)
    return Engine(model, data.vocab)
