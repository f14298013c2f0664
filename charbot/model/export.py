"""The model for LiteRT: `model.tflite`, written by TensorFlow's own `tf.lite.TFLiteConverter`.

What is exported is one character step with explicit state, not the Keras layer over a sequence
(that converts to loops and select-TF ops the LiteRT pip runtime lacks). It goes through a SavedModel
so that the flatbuffer keeps its signature names:

    signature "step":  ids [1] int32, states [2 * layers, 1, units] float32
                   ->  logits [1, vocab] float32, states [2 * layers, 1, units] float32
    (states rows: h_0, c_0, h_1, c_1, ...)

A second signature that reads 64 characters per call (unrolled, the input projection in one product)
was measured and dropped: it primed 3,000 characters/s against 4,900 for one step per call, and took
20 to 40 s to convert against about 1 s.

Weights are dynamic-range int8 by default (`Optimize.DEFAULT`: int8 weights, float activations);
"float32" keeps them float. The file is added to the checkpoint's manifest with its sha256; a folder
that cannot be written gets its export in the user cache, keyed by the weights' sha256. This module
needs TensorFlow; running the file does not (`generate.litert`).
"""

from __future__ import annotations

import errno
import tempfile
from pathlib import Path

from charbot.errors import CharbotError
from charbot.model import checkpoint
from charbot.system.resources import cache_dir, write_atomically, write_failure

QUANTIZATIONS = ("int8", "float32")
FILE = "model.tflite"


def convert(model, quantize: str = "int8") -> bytes:
    """The flatbuffer of `model`'s step signature."""
    from charbot.system.tfload import load_tensorflow

    load_tensorflow()
    import tensorflow as tf
    layers, units = model.config.num_layers, model.config.rnn_units
    states_spec = tf.TensorSpec([2 * layers, 1, units], tf.float32, name="states")

    def unpack(states):
        return tuple((states[2 * i], states[2 * i + 1]) for i in range(layers))

    def pack(pairs):
        return tf.stack([t for pair in pairs for t in pair])

    batch_spec = tf.TensorSpec([2 * layers, None, units], tf.float32, name="states")

    class Exported(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1], tf.int32, name="ids"), states_spec])
        def step(self, ids, states):
            logits, new = model.step(ids, unpack(states))
            return {"logits": logits, "states": pack(new)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.int32, name="ids"), batch_spec])
        def batch(self, ids, states):
            logits, new = model.step(ids, unpack(states))
            return {"logits": logits, "states": pack(new)}

    module = Exported()
    module.weights = [weight.value for weight in model.weights]  # tracked, so the SavedModel holds them
    with tempfile.TemporaryDirectory(prefix="charbot-export-") as folder:
        tf.saved_model.save(module, folder, signatures={"step": module.step.get_concrete_function(),
                                                        "batch": module.batch.get_concrete_function()})
        converter = tf.lite.TFLiteConverter.from_saved_model(folder, signature_keys=["step", "batch"])
        if quantize == "int8":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        return converter.convert()


def cached_path(data, quantize: str) -> Path:
    """Where the export of a checkpoint that cannot be written to goes: keyed by its weights' sha256."""
    return cache_dir() / "litert" / f"{data.weights_sha256}-{quantize}.tflite"


def export(data, quantize: str = "int8", into_cache: bool = False) -> Path:
    """Convert the checkpoint `data` and write `model.tflite` beside it (listed in its manifest).

    When the folder cannot be written (a shipped model in a read-only install) or `into_cache`, the
    file goes to the user cache instead. Returns the path written."""
    from charbot.model import network

    if quantize not in QUANTIZATIONS:
        raise CharbotError(f"unknown --quantize {quantize!r}: use {' or '.join(QUANTIZATIONS)}")
    flatbuffer = convert(network.model_from(data), quantize)
    if not into_cache:
        try:
            import tensorflow as tf

            checkpoint.add_file(data.path, FILE, flatbuffer, {"quantize": quantize, "tensorflow": tf.__version__,
                                                            "weights_sha256": data.weights_sha256})
            return data.path / FILE
        except OSError as error:
            if error.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise CharbotError(write_failure(error, data.path / FILE, "LiteRT model", "then run again")) from None
    path = cached_path(data, quantize)
    try:
        write_atomically(path, flatbuffer)
    except OSError as error:
        raise CharbotError(write_failure(error, path, "LiteRT model", "then run again")) from None
    return path


def export_best(run: Path) -> Path | None:
    """Export the run folder's `best/` (what `charbot train` and `charbot.train` do as a run ends)."""
    best = Path(run) / "best"
    if not (best / checkpoint.MANIFEST).is_file():
        return None
    return export(checkpoint.load(best))
