import json
import shutil

import numpy as np
import pytest

from charbot.model import checkpoint, network
from charbot.errors import CharbotError


def copy(tiny_checkpoint, tmp_path):
    target = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, target)
    return target


def test_round_trip_restores_identical_weights_and_settings(tiny_checkpoint, tmp_path):
    model, data = network.load_model(tiny_checkpoint)
    again = tmp_path / "again"
    checkpoint.save(again, weights=network.model_weights(model), model_config=data.model_config,
                    train_config=data.train_config, vocab=data.vocab, corpus=data.config["corpus"],
                    metrics=data.metrics)
    reloaded = checkpoint.load(again)
    assert reloaded.model_config == data.model_config
    assert reloaded.train_config == data.train_config
    assert reloaded.vocab == data.vocab
    assert reloaded.metrics == data.metrics
    for name, value in data.weights.items():
        np.testing.assert_array_equal(reloaded.weights[name], value)


def test_float16_storage_halves_the_weights(tiny_checkpoint, tmp_path):
    data = checkpoint.load(tiny_checkpoint)
    half = tmp_path / "half"
    checkpoint.save(half, weights=data.weights, model_config=data.model_config, train_config=data.train_config,
                    vocab=data.vocab, corpus=data.config["corpus"], metrics=data.metrics, float16=True)
    loaded = checkpoint.load(half)
    assert all(w.dtype == np.float16 for w in loaded.weights.values())
    assert (half / "weights.npz").stat().st_size < 0.6 * (tiny_checkpoint / "weights.npz").stat().st_size


def test_saving_over_a_checkpoint_leaves_no_temporary_folders(tiny_checkpoint, tmp_path):
    target = copy(tiny_checkpoint, tmp_path)
    data = checkpoint.load(target)
    checkpoint.save(target, weights=data.weights, model_config=data.model_config, train_config=data.train_config,
                    vocab=data.vocab, corpus=data.config["corpus"], metrics={"changed": True})
    assert checkpoint.load(target).metrics == {"changed": True}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def _truncate(path):
    data = (path / "weights.npz").read_bytes()
    (path / "weights.npz").write_bytes(data[: len(data) // 2])


def _corrupt_json(path):
    (path / "config.json").write_text("{not json")


def _flip_byte(path):
    data = bytearray((path / "vocab.json").read_bytes())
    data[5] ^= 1
    (path / "vocab.json").write_bytes(bytes(data))


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: (p / "weights.npz").unlink(), "weights.npz is missing"),
        (lambda p: (p / "manifest.json").unlink(), "manifest.json is missing"),
        (_truncate, "weights.npz is truncated"),
        (_corrupt_json, "config.json is truncated or altered"),
        (_flip_byte, "vocab.json is corrupt"),
        (lambda p: (p / "manifest.json").write_text("[]"), "manifest.json is corrupt"),
    ],
)
def test_damaged_checkpoints_name_the_bad_file(tiny_checkpoint, tmp_path, damage, message):
    target = copy(tiny_checkpoint, tmp_path)
    damage(target)
    with pytest.raises(CharbotError, match=message) as error:
        network.load_model(target)
    assert "\n" not in str(error.value)


def test_weights_that_do_not_match_the_config_are_refused(tiny_checkpoint, tmp_path):
    target = tmp_path / "mismatch"
    data = checkpoint.load(tiny_checkpoint)
    weights = dict(data.weights)
    weights["logits/bias"] = np.zeros(3, np.float32)
    checkpoint.save(target, weights=weights, model_config=data.model_config, train_config=data.train_config,
                    vocab=data.vocab, corpus=data.config["corpus"], metrics=data.metrics)
    with pytest.raises(CharbotError, match="logits/bias of shape"):
        network.load_model(target)


def test_missing_and_non_folder_paths(tmp_path):
    with pytest.raises(CharbotError, match="does not exist"):
        checkpoint.load(tmp_path / "nowhere")
    file = tmp_path / "file.txt"
    file.write_text("x")
    with pytest.raises(CharbotError, match="is not a folder"):
        checkpoint.load(file)


def test_nothing_is_a_pickle(tiny_run):
    for path in (tiny_run / "latest").iterdir():
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                assert all(archive[key].dtype != object for key in archive.files)
        else:
            json.loads(path.read_text())


def test_weights_holding_nan_are_refused_naming_the_tensor(tmp_path, tiny_checkpoint):
    from charbot.model.network import load_model

    data = checkpoint.load(tiny_checkpoint)
    weights = dict(data.weights)
    weights["lstm_1/lstm_cell/recurrent_kernel"] = weights["lstm_1/lstm_cell/recurrent_kernel"].copy()
    weights["lstm_1/lstm_cell/recurrent_kernel"][0, 0] = np.nan
    checkpoint.save(tmp_path / "bad", weights=weights, model_config=data.model_config, train_config=data.train_config,
                    vocab=data.vocab, corpus=data.config["corpus"], metrics=data.metrics)
    with pytest.raises(CharbotError, match="weight lstm_1/lstm_cell/recurrent_kernel holds NaN or infinite values"):
        load_model(tmp_path / "bad")


def test_an_empty_weights_file_with_a_matching_manifest_is_one_line(tmp_path, tiny_checkpoint):
    import hashlib

    target = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, target)
    (target / "weights.npz").write_bytes(b"")
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["files"]["weights.npz"] = {"bytes": 0, "sha256": hashlib.sha256(b"").hexdigest()}
    (target / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CharbotError, match="weights.npz cannot be read"):
        checkpoint.load(target)


def test_a_writer_killed_between_its_renames_loses_nothing(tmp_path, tiny_checkpoint):
    """save() moves the old folder aside, then renames the new one in: killed in between, the next load
    finds the new one (complete: its manifest is written last), or the old one when that is all there is."""
    import os
    import shutil

    target = tmp_path / "latest"
    shutil.copytree(tiny_checkpoint, tmp_path / ".latest.old-11")
    shutil.copytree(tiny_checkpoint, tmp_path / ".latest.tmp-11")
    (tmp_path / ".latest.tmp-11" / "metrics.json").touch()  # mark the new one
    os.utime(tmp_path / ".latest.tmp-11" / "metrics.json", (1, 1))
    assert checkpoint.load(target).path == target
    assert (target / "metrics.json").stat().st_mtime == 1  # the new one
    shutil.rmtree(target)
    shutil.copytree(tiny_checkpoint, tmp_path / ".latest.old-12")
    (tmp_path / ".latest.tmp-12").mkdir()  # killed mid-write: no manifest
    assert checkpoint.load(target).path == target
    assert (tmp_path / ".latest.tmp-12").exists()  # left for the next save to clear
