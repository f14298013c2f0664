"""Loading a model to generate with, in one place: name -> folder -> checkpoint -> engine.

`load_engine` is what the chat, `/model`, `generate`, the API and the llm plugin call. It resolves the
name (`model.names`), reads and checks the checkpoint (`model.checkpoint`) and builds the engine of the
runtime asked for:

    litert  the checkpoint's `model.tflite` on LiteRT (`generate.litert`); TensorFlow is not imported.
            A checkpoint without one is exported once, with a note (that step imports TensorFlow).
    tf      the TensorFlow engine (`generate.engine`): the reference, and batched generation on GPUs.
    auto    litert where `ai_edge_litert` is installed, else tf.

This module never imports TensorFlow itself.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from charbot.errors import NEEDS_TENSORFLOW, CharbotError
from charbot.model import checkpoint, export, names  # export: its TensorFlow loads only to convert

RUNTIMES = ("auto", "litert", "tf")


def load_engine(name=None, runtime: str = "auto", note=None):
    """(Engine, CheckpointData) for a checkpoint folder, run folder or shipped name (None: the default).

    Args:
        runtime: "litert", "tf", or "auto".
        note: note(text) receives one-line notes, such as an export made on first use.
    """
    runtime = choose_runtime(runtime)
    data = checkpoint.load(names.resolve(name), weights=runtime == "tf")
    if runtime == "tf":
        return _tf_engine(data), data
    from charbot.generate.litert import LiteRTEngine

    path, content = litert_file(data, note)
    written_by = data.manifest.get(export.FILE, {}).get("tensorflow", "unknown")
    config = data.model_config
    engine = LiteRTEngine(path, data.vocab, config.num_layers, config.rnn_units, written_by=written_by,
                          content=content)
    return engine, data


def choose_runtime(runtime: str) -> str:
    if runtime not in RUNTIMES:
        raise CharbotError(f"unknown runtime {runtime!r}: use {', '.join(RUNTIMES)}")
    if runtime == "auto":
        return "litert" if importlib.util.find_spec("ai_edge_litert") else "tf"
    if runtime == "litert" and not importlib.util.find_spec("ai_edge_litert"):
        raise CharbotError("--runtime litert needs ai-edge-litert: pip install 'ai-edge-litert==2.3.0'")
    if runtime == "tf":
        _need_tensorflow("--runtime tf")
    return runtime


def _need_tensorflow(what: str) -> None:
    if importlib.util.find_spec("tensorflow") is None:
        raise CharbotError(NEEDS_TENSORFLOW.format(what=what))


def litert_file(data, note=None) -> tuple[Path, bytes | None]:
    """The checkpoint's LiteRT model: listed in its manifest (then read once, and checked), cached, or
    exported now. Returns its path, and its bytes when they were read here."""
    entry = data.manifest.get(export.FILE)
    path = data.path / export.FILE
    if entry is not None and entry.get("weights_sha256") != data.weights_sha256:
        return _export_again(data, note), None
    if entry is not None:
        return path, checkpoint.read_listed(data, export.FILE, f"run 'charbot export {data.path}' to write it again")
    cached = export.cached_path(data, "int8")
    if cached.is_file():
        return cached, None
    _need_tensorflow(f"checkpoint {data.path} has no {export.FILE}; exporting one")
    if note:
        note(f"exporting {data.path.name} for LiteRT once (this checkpoint has no {export.FILE}; it takes a while)")
    return export.export(checkpoint.load(data.path)), None  # the weights, read only now


def _export_again(data, note) -> Path:
    """model.tflite came from other weights than weights.npz (or does not say which): export it again where
    TensorFlow is installed, else refuse in one line."""
    if importlib.util.find_spec("tensorflow") is None:
        raise CharbotError(f"checkpoint {data.path}: {export.FILE} was not exported from its weights.npz; run "
                           f"'charbot export {data.path}' where TensorFlow is installed (pip install 'charbot[train]')")
    if (cached := export.cached_path(data, "int8")).is_file():
        return cached
    if note:
        note(f"exporting {data.path.name} for LiteRT again: its {export.FILE} was not made from its weights.npz")
    return export.export(checkpoint.load(data.path))


def _tf_engine(data):
    from charbot.generate.engine import TFEngine
    from charbot.model.network import model_from

    return TFEngine(model_from(data), data.vocab)
