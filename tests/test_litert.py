"""The LiteRT runtime: the export, the engine against the TensorFlow engine, no TensorFlow loaded, bad files.

The TensorFlow engine is the reference: a float32 export must give its logits and states to float32
rounding; the int8 export stays close (its cost on real text is measured by `charbot eval --runtime
litert`, see the README).
"""

import hashlib
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from charbot.config import SampleConfig
from charbot.errors import CharbotError
from charbot.generate.loading import load_engine
from charbot.generate.state import state_arrays, state_from
from charbot.model import checkpoint, export

TEXT = "WREN:\nThe morning comes with salt upon the wind,\nAnd every sail"


@pytest.fixture(scope="module")
def float32_copy(tmp_path_factory, tiny_checkpoint):
    folder = tmp_path_factory.mktemp("f32") / "best"
    shutil.copytree(tiny_checkpoint, folder)
    export.export(checkpoint.load(folder), "float32")
    return folder


@pytest.fixture(scope="module")
def engines(float32_copy):
    return load_engine(float32_copy, "tf")[0], load_engine(float32_copy, "litert")[0]


def _close(a, b, atol):
    """Equal to float32 rounding: `atol` near zero, 1e-5 of the value elsewhere (logits reach 40 here)."""
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=atol, rtol=1e-5 if atol else 0)


def test_the_export_is_listed_in_the_manifest_with_its_sha256(tiny_checkpoint):
    data = checkpoint.load(tiny_checkpoint)
    entry = data.manifest[export.FILE]
    content = (tiny_checkpoint / export.FILE).read_bytes()
    assert entry["sha256"] == hashlib.sha256(content).hexdigest() and entry["quantize"] == "int8"


def test_float32_matches_the_tensorflow_engine(engines):
    tf_engine, lite = engines
    for length in (1, 2, 63, 64, 65, len(TEXT)):  # around the TF engine's chunk and bucket edges
        expected, _ = tf_engine.start(TEXT[:length])
        got, _ = lite.start(TEXT[:length])
        assert got.chars == expected.chars
        _close(got.logits, expected.logits, 1e-4)
        for (h, c), (h_ref, c_ref) in zip(got.layers, expected.layers):
            _close(h, h_ref, 1e-5)
            _close(c, c_ref, 1e-5)


def test_int8_stays_close_to_float32(tiny_checkpoint, engines):
    tf_engine, _ = engines
    lite = load_engine(tiny_checkpoint, "litert")[0]
    p = np.asarray(tf_engine.start(TEXT)[0].logits, np.float64)[0]
    q = np.asarray(lite.start(TEXT)[0].logits, np.float64)[0]
    log_p, log_q = p - np.logaddexp.reduce(p), q - np.logaddexp.reduce(q)
    assert float((np.exp(log_p) * (log_p - log_q)).sum()) < 0.01  # nats


@pytest.mark.parametrize("quantize, atol", [("float32", 1e-4), ("int8", 0.1)])
def test_a_layer_normalised_model_exports_and_runs_like_numpy(tmp_path, quantize, atol):
    """`--layer-norm` adds normalisation inside the cell; the export must carry it (int8: within its rounding)."""
    import keras

    from charbot.config import ModelConfig
    from charbot.generate.litert import LiteRTEngine
    from charbot.model.network import build_model, model_weights
    from charbot.model.reference import NumpyLSTM
    from charbot.model.vocab import Vocabulary

    vocab = Vocabulary.from_text(TEXT)
    keras.utils.set_random_seed(7)
    model = build_model(ModelConfig(vocab_size=len(vocab), embedding_dim=8, rnn_units=24, num_layers=2, layer_norm=True))
    rng = np.random.default_rng(7)
    for variable in model.weights:
        variable.assign(variable.numpy() + rng.normal(size=variable.shape).astype(np.float32) * 0.2)
    (tmp_path / "model.tflite").write_bytes(export.convert(model, quantize))
    lite = LiteRTEngine(tmp_path / "model.tflite", vocab, 2, 24)
    reference = NumpyLSTM(model_weights(model), 2)
    states = reference.zero_state(1)
    for char_id in vocab.ids_from_text(TEXT):
        logits, states = reference.step(np.array([char_id]), states)
    got = lite.prime(lite.initial_state(), TEXT)[0]
    np.testing.assert_allclose(got.logits[0], logits[0], atol=atol)
    assert np.abs(logits).max() > 1.0  # not a trivially flat model


def test_states_cross_between_runtimes(engines):
    """A state one runtime made (as a session saves it) continues under the other one."""
    tf_engine, lite = engines
    start = state_from(state_arrays("s", lite.start(TEXT[:20])[0]), "s", 2)
    from_lite, _ = lite.prime(start, TEXT[20:])
    from_tf, _ = tf_engine.prime(start, TEXT[20:])
    _close(from_lite.logits, from_tf.logits, 1e-4)


def test_the_stream_state_matches_what_was_shown(tiny_checkpoint):
    lite = load_engine(tiny_checkpoint, "litert")[0]
    start, _ = lite.start("WREN:\n")
    stream = lite.stream(start, SampleConfig(max_chars=200, stop=()), seed=4)
    shown = ""
    for token in stream:
        shown += token.text
        if len(shown) == 37:
            break
    again, _ = lite.prime(start, shown)
    assert stream.state.chars == again.chars
    _close(stream.state.logits, again.logits, 0)


def test_a_seed_gives_the_same_text_and_samples_differ(tiny_checkpoint):
    lite = load_engine(tiny_checkpoint, "litert")[0]
    start, _ = lite.start("WREN:\n")
    settings = SampleConfig(max_chars=60, stop=(), temperature=1.0)
    first = "".join(t.text for t in lite.stream(start, settings, seed=8))
    assert first == "".join(t.text for t in lite.stream(start, settings, seed=8))
    samples = lite.sample(start, settings, seed=8, n=3)
    assert len(samples) == 3 and len(set(samples)) > 1 and all(len(s) == 60 for s in samples)
    stopped = lite.stream(start, settings.replace(stop=("\n",), max_chars=2000), seed=8)
    text = "".join(t.text for t in stopped)
    assert text.endswith("\n") and "\n" not in text[:-1] and stopped.stopped_by == "stop"


def test_scoring_matches_the_tensorflow_model(engines):
    tf_engine, lite = engines
    assert lite.loss(TEXT * 3) == pytest.approx(tf_engine.loss(TEXT * 3), abs=1e-3)


def test_tensorflow_is_never_imported(tiny_checkpoint, tmp_path):
    code = f"""
import sys, charbot
model = charbot.load({str(tiny_checkpoint)!r})
model.generate("WREN:", max_chars=30, random_seed=1)
chat = model.conversation(max_chars=20)
chat.say("ASHER:\\n")
from charbot.cli import main
sys.stdin = open({str(tmp_path / 'lines')!r})
main(["chat", "--checkpoint", {str(tiny_checkpoint)!r}, "--len", "20"])
main(["generate", "WREN:", "--checkpoint", {str(tiny_checkpoint)!r}, "--len", "20"])
print("tensorflow" in sys.modules, "keras" in sys.modules)
"""
    (tmp_path / "lines").write_text("WREN:\n/temp 0.3\nThe tide\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("False False"), result.stdout[-500:]


def _copy(tiny_checkpoint, tmp_path):
    folder = tmp_path / "best"
    shutil.copytree(tiny_checkpoint, folder)
    return folder


def _relist(folder):
    """Recompute the manifest entry of model.tflite, as a damaged-but-consistent file would have."""
    manifest = json.loads((folder / "manifest.json").read_text())
    content = (folder / export.FILE).read_bytes()
    manifest["files"][export.FILE].update(bytes=len(content), sha256=hashlib.sha256(content).hexdigest())
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_a_damaged_export_is_one_line(tiny_checkpoint, tmp_path):
    folder = _copy(tiny_checkpoint, tmp_path)
    content = bytearray((folder / export.FILE).read_bytes())
    content[len(content) // 2] ^= 0xFF
    (folder / export.FILE).write_bytes(bytes(content))
    with pytest.raises(CharbotError, match="model.tflite is corrupt .sha256 mismatch.*charbot export"):
        load_engine(folder, "litert")
    (folder / export.FILE).write_bytes(b"not a flatbuffer at all")
    _relist(folder)
    with pytest.raises(CharbotError, match="cannot be read by ai-edge-litert"):
        load_engine(folder, "litert")


def test_an_export_of_another_model_is_one_line(tiny_checkpoint, tmp_path, play_file):
    folder = _copy(tiny_checkpoint, tmp_path)
    other = _copy(tiny_checkpoint, tmp_path / "other")
    config = json.loads((other / "config.json").read_text())
    config["model"]["rnn_units"] = 24
    from charbot.model import network

    data = checkpoint.load(other)
    model = network.build_model(checkpoint.ModelConfig.from_dict(config["model"]))
    (folder / export.FILE).write_bytes(export.convert(model, "int8"))
    _relist(folder)
    with pytest.raises(CharbotError, match="does not fit this checkpoint.*charbot export"):
        load_engine(folder, "litert")
    assert data.vocab


def test_a_checkpoint_without_an_export_gets_one_on_first_use(tiny_checkpoint, tmp_path):
    folder = _copy(tiny_checkpoint, tmp_path)
    (folder / export.FILE).unlink()
    manifest = json.loads((folder / "manifest.json").read_text())
    del manifest["files"][export.FILE]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    notes = []
    engine, _ = load_engine(folder, "litert", notes.append)
    assert engine.runtime == "litert" and len(notes) == 1 and "exporting" in notes[0]
    assert export.FILE in checkpoint.load(folder).manifest


def test_a_read_only_checkpoint_exports_into_the_cache(tiny_checkpoint, tmp_path, monkeypatch):
    import errno

    folder = _copy(tiny_checkpoint, tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(checkpoint, "add_file", read_only)
    path = export.export(checkpoint.load(folder), "int8")
    assert path.parent == tmp_path / "cache" / "charbot" / "litert" and path.stat().st_size > 0


def test_a_full_disk_while_exporting_is_one_line_and_keeps_the_checkpoint(tiny_checkpoint, tmp_path, monkeypatch):
    import errno

    folder = _copy(tiny_checkpoint, tmp_path)
    before = (folder / "manifest.json").read_bytes()
    real_write = checkpoint.write_atomically

    def full(path, data):
        if path.name == export.FILE:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(path, data)

    monkeypatch.setattr(checkpoint, "write_atomically", full)
    with pytest.raises(CharbotError, match=r"^no space left on the disk while writing the LiteRT model .*model.tflite"):
        export.export(checkpoint.load(folder), "int8")
    assert (folder / "manifest.json").read_bytes() == before
    load_engine(folder, "litert")  # the earlier export is still there and still checks out


def _replace_weights(folder, change):
    """New weights.npz, its manifest entry updated to match (model.tflite left as it was)."""
    import io

    arrays = {name: change(value) for name, value in checkpoint.load(folder).weights.items()}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    content = buffer.getvalue()
    (folder / "weights.npz").write_bytes(content)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["weights.npz"].update(bytes=len(content), sha256=hashlib.sha256(content).hexdigest())
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_an_export_of_other_weights_is_made_again_from_these(tiny_checkpoint, tmp_path):
    folder = _copy(tiny_checkpoint, tmp_path)
    _replace_weights(folder, lambda value: value * 0.5)
    notes = []
    lite = load_engine(folder, "litert", notes.append)[0]
    assert len(notes) == 1 and "again" in notes[0]
    manifest = checkpoint.load(folder).manifest
    assert manifest[export.FILE]["weights_sha256"] == manifest["weights.npz"]["sha256"]
    assert lite.loss(TEXT * 3) == pytest.approx(load_engine(folder, "tf")[0].loss(TEXT * 3), abs=0.05)


def test_an_export_of_other_weights_is_refused_without_tensorflow(tiny_checkpoint, tmp_path, monkeypatch):
    from charbot.generate import loading

    folder = _copy(tiny_checkpoint, tmp_path)
    _replace_weights(folder, lambda value: value * 0.5)
    real = loading.importlib.util.find_spec
    monkeypatch.setattr(loading.importlib.util, "find_spec", lambda name: None if name == "tensorflow" else real(name))
    with pytest.raises(CharbotError, match="model.tflite was not exported from its weights.npz.*charbot export"):
        load_engine(folder, "litert")


def test_weights_holding_nan_are_refused_on_litert_too(tiny_checkpoint, tmp_path):
    folder = _copy(tiny_checkpoint, tmp_path)
    _replace_weights(folder, lambda value: np.full_like(value, np.nan))
    for runtime in ("tf", "litert"):
        with pytest.raises(CharbotError, match="NaN"):
            load_engine(folder, runtime)


def test_the_batch_signature_gives_each_row_what_it_gets_alone(tiny_checkpoint):
    lite = load_engine(tiny_checkpoint, "litert")[0]
    assert lite.batches
    rng = np.random.default_rng(5)
    for rows in (3, 8, 1, 5):  # the batch is resized as the rows change
        states = rng.normal(size=(4, rows, 48)).astype(np.float32)
        ids = rng.integers(0, len(lite.vocab), rows).astype(np.int32)
        logits, new = lite.step_rows(ids, states)
        for row in range(rows):
            alone_logits, alone_states = lite._step(ids[row:row + 1], np.ascontiguousarray(states[:, row:row + 1]))
            np.testing.assert_array_equal(logits[row:row + 1], alone_logits)
            np.testing.assert_array_equal(new[:, row:row + 1], alone_states)
