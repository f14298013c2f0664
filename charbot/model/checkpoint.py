"""Checkpoint folders: weights plus JSON, written atomically and validated on load.

A checkpoint is a folder:

    weights.npz        model weights by stable name (float32, or float16 for shipping)
    config.json        model and training settings, corpus name and sha256, charbot version
    vocab.json         the vocabulary
    metrics.json       per-epoch losses, wall time, characters per second, machine
    resume.npz         (training checkpoints only) optimizer slots, carried LSTM state
    resume.json        (training checkpoints only) epoch, window, best loss, seeds
    manifest.json      size and sha256 of every file above, written last

The folder is written under a temporary name and renamed into place, so a crash or Ctrl-C leaves the
old checkpoint or the new one, never half of one. Nothing here is a pickle: arrays are loaded with
`allow_pickle=False`. Loading checks the manifest first and names the bad file in one line.

This module is the file format only: building a model from it is `network.load_model`, and which
folder a name means is `names.resolve`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from charbot.version import __version__
from charbot.config import ModelConfig, TrainConfig
from charbot.errors import CharbotError
from charbot.system.resources import write_atomically, write_failure, write_synced
from charbot.model.vocab import Vocabulary

MANIFEST = "manifest.json"


@dataclass
class CheckpointData:
    """Everything in a checkpoint folder except the built model."""

    path: Path
    model_config: ModelConfig
    train_config: TrainConfig
    vocab: Vocabulary
    config: dict  # the whole config.json (corpus, version, ...)
    metrics: dict
    weights: dict[str, np.ndarray]
    resume: dict | None = None  # resume.json, when present
    resume_arrays: dict[str, np.ndarray] = field(default_factory=dict)
    manifest: dict = field(default_factory=dict)  # manifest.json's files: name -> bytes and sha256

    @property
    def weights_sha256(self) -> str:
        """Who the model is: sessions compare this to know whether a saved state fits."""
        return self.manifest["weights.npz"]["sha256"]


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]  # numpy's stub types the first keyword only
    return buffer.getvalue()


def _json_bytes(data) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def save(
    path: Path,
    *,
    weights: dict[str, np.ndarray],
    model_config: ModelConfig,
    train_config: TrainConfig,
    vocab: Vocabulary,
    corpus: dict,
    metrics: dict,
    resume: dict | None = None,
    resume_arrays: dict[str, np.ndarray] | None = None,
    float16: bool = False,
    then: str = "then run again",
) -> None:
    """Write a checkpoint folder atomically (replacing any folder already at `path`).

    Args:
        then: what to do once space is freed, for the one line a full disk gives."""
    path = Path(path)
    if float16:
        weights = {name: value.astype(np.float16) for name, value in weights.items()}
    files = {
        "weights.npz": _npz_bytes(weights),
        "config.json": _json_bytes(
            {
                "charbot_version": __version__,
                "model": model_config.to_dict(),
                "training": train_config.to_dict(),
                "corpus": corpus,
            }
        ),
        "vocab.json": (vocab.to_json() + "\n").encode("utf-8"),
        "metrics.json": _json_bytes(metrics),
    }
    if resume is not None:
        files["resume.json"] = _json_bytes(resume)
        files["resume.npz"] = _npz_bytes(resume_arrays or {})
    _write_folder(path, files, then)


def _write_folder(path: Path, files: dict[str, bytes], then: str) -> None:
    """Write `files` and their manifest as the folder `path`: into a temporary sibling, then two renames."""
    manifest = {name: {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()} for name, data in files.items()}
    files = {**files, MANIFEST: _json_bytes({"files": manifest})}  # the caller's dict stays as it was

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    recover(path)  # a writer killed between its renames: its folders first get their name back
    for stale in [*path.parent.glob(f".{path.name}.tmp-*"), *path.parent.glob(f".{path.name}.old-*")]:
        shutil.rmtree(stale, ignore_errors=True)  # left by a writer killed mid-write (one writer: the lock)
    try:
        tmp.mkdir()
        for name, data in files.items():
            write_synced(tmp / name, data)
    except OSError as error:  # a full disk: the half-written folder goes, what was at `path` stays
        shutil.rmtree(tmp, ignore_errors=True)
        raise CharbotError(write_failure(error, path, "checkpoint", then)) from None
    old = path.with_name(f".{path.name}.old-{os.getpid()}")
    if path.exists():
        os.replace(path, old)
    os.replace(tmp, path)
    shutil.rmtree(old, ignore_errors=True)


def recover(path: Path) -> None:
    """Put back a checkpoint folder that a writer killed between its two renames left without a name.

    `save` moves the old folder aside (`.NAME.old-PID`), then renames the complete new one (`.NAME.tmp-PID`,
    whose manifest is written last) into place. Killed in between, both are whole: the new one wins."""
    path = Path(path)
    if path.exists():
        return
    for pattern in (f".{path.name}.tmp-*", f".{path.name}.old-*"):
        for candidate in sorted(path.parent.glob(pattern)):
            if (candidate / MANIFEST).is_file():
                os.replace(candidate, path)
                return


def _read(path: Path, name: str, manifest: dict, remedy: str = "retrain or restore it") -> bytes:
    """The bytes of `name`, checked against its manifest entry; one line naming the file where they differ."""
    file = path / name
    if not file.is_file():
        raise CharbotError(f"checkpoint {path}: {name} is missing; the checkpoint is incomplete, {remedy}")
    data = file.read_bytes()
    expected = manifest.get(name)
    if expected is None:
        raise CharbotError(f"checkpoint {path}: {name} is not listed in {MANIFEST}; the checkpoint is corrupt")
    if len(data) != expected["bytes"]:
        raise CharbotError(
            f"checkpoint {path}: {name} is truncated or altered ({len(data)} bytes, expected "
            f"{expected['bytes']}); {remedy}"
        )
    if hashlib.sha256(data).hexdigest() != expected["sha256"]:
        raise CharbotError(f"checkpoint {path}: {name} is corrupt (sha256 mismatch); {remedy}")
    return data


def _json(path: Path, name: str, manifest: dict):
    try:
        return json.loads(_read(path, name, manifest).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CharbotError(f"checkpoint {path}: {name} is not valid JSON ({error}); the checkpoint is corrupt") from None


def _npz(path: Path, name: str, manifest: dict) -> dict[str, np.ndarray]:
    try:
        with np.load(io.BytesIO(_read(path, name, manifest)), allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:  # EOFError: an empty file
        raise CharbotError(f"checkpoint {path}: {name} cannot be read ({error}); the checkpoint is corrupt") from None


def read_listed(data: CheckpointData, name: str, remedy: str) -> bytes:
    """A file that was added to a loaded checkpoint (model.tflite), checked against its manifest entry."""
    return _read(data.path, name, data.manifest, remedy)


def add_file(folder: Path, name: str, content: bytes, extra: dict) -> None:
    """Write `name` into a checkpoint folder, then list it in the manifest (each file atomically).

    A crash between the two leaves a file the manifest does not list, which loading treats as absent.
    Raises OSError."""
    folder = Path(folder)
    document = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    entry = {"bytes": len(content), "sha256": hashlib.sha256(content).hexdigest(), **extra}
    write_atomically(folder / name, content)
    document["files"][name] = entry
    write_atomically(folder / MANIFEST, (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode())


def load(path: Path, *, with_resume: bool = False, weights: bool = True) -> CheckpointData:
    """Read and validate a checkpoint folder. Raises `CharbotError` naming the bad file.

    `weights=False` leaves weights.npz unread (the LiteRT runtime, whose model.tflite names the sha256
    of the weights it was exported from, has no use for them)."""
    path = Path(path)
    recover(path)
    if not path.exists():
        raise CharbotError(f"checkpoint {path} does not exist: give a checkpoint folder (see 'charbot train')")
    if not path.is_dir():
        raise CharbotError(f"checkpoint {path} is not a folder: give the folder that holds config.json and weights.npz")
    manifest_file = path / MANIFEST
    if not manifest_file.is_file():
        raise CharbotError(f"checkpoint {path}: {MANIFEST} is missing; not a charbot checkpoint, or an incomplete one")
    try:
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))["files"]
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
        raise CharbotError(f"checkpoint {path}: {MANIFEST} is corrupt; retrain or restore the checkpoint") from None
    config = _json(path, "config.json", manifest)
    try:
        model_config = ModelConfig.from_dict(config["model"])
        train_config = TrainConfig.from_dict(config.get("training", {}))
    except (KeyError, TypeError) as error:
        raise CharbotError(f"checkpoint {path}: config.json lacks model settings ({error}); the checkpoint is corrupt") from None
    try:
        vocab = Vocabulary.from_json(_read(path, "vocab.json", manifest).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, CharbotError) as error:
        raise CharbotError(f"checkpoint {path}: vocab.json is corrupt ({error})") from None
    if len(vocab) != model_config.vocab_size:
        raise CharbotError(
            f"checkpoint {path}: vocab.json has {len(vocab)} characters but config.json says "
            f"{model_config.vocab_size}; the files do not belong together"
        )
    data = CheckpointData(
        path=path,
        model_config=model_config,
        train_config=train_config,
        vocab=vocab,
        config=config,
        metrics=_json(path, "metrics.json", manifest),
        weights=_npz(path, "weights.npz", manifest) if weights else {},
        manifest=manifest,
    )
    if with_resume:
        if "resume.json" not in manifest:
            raise CharbotError(f"checkpoint {path} holds no training state (resume.json); resume from a run's 'latest' folder")
        data.resume = _json(path, "resume.json", manifest)
        data.resume_arrays = _npz(path, "resume.npz", manifest)
    return data
