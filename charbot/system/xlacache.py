"""XLA's persistent compilation cache, in the user cache folder, guarded against damaged files.

The engine's compiled functions (priming buckets, the generation chunk) cost about a second of XLA
compilation on every launch. TensorFlow can keep the compiled code on disk
(`--tf_xla_persistent_cache_directory` in `TF_XLA_FLAGS`, read before TensorFlow starts).

- Keyed: the folder is named after the TensorFlow and charbot versions, the CPU's feature flags and
  `XLA_FLAGS`, so an upgrade never loads an old entry, a cache shared between machines (a network
  home folder) never runs code built for another CPU, and code compiled under other XLA options
  (`--xla_cpu_max_isa=AVX2`, fast math) is never taken for this run's (XLA's own fingerprint leaves
  its options out); inside it, XLA names each entry by a fingerprint of
  the compiled computation, which covers the model's shapes (weights are inputs, not constants, so
  models of one shape share code).
- Guarded: TensorFlow fails the call for good on an entry it cannot parse, so charbot keeps a
  manifest of the sha256 of every entry, written at exit, and deletes before TensorFlow starts any
  entry that is not in the manifest or does not match it.

Set CHARBOT_XLA_CACHE=0 to turn it off. This module only manages files and an environment variable.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from charbot.version import __version__
from charbot.system.hardware import cpu_flags
from charbot.system.resources import cache_dir, write_atomically

FLAG = "--tf_xla_persistent_cache_directory"
MANIFEST = "charbot-manifest.json"


def folder() -> Path:
    try:
        tensorflow = version("tensorflow")
    except PackageNotFoundError:
        tensorflow = "unknown"
    cpu = hashlib.sha256(" ".join(sorted(cpu_flags())).encode()).hexdigest()[:12]
    name = f"tensorflow-{tensorflow}-charbot-{__version__}-cpu-{cpu}"
    options = os.environ.get("XLA_FLAGS", "").split()
    if options:
        name += "-xla-" + hashlib.sha256(" ".join(options).encode()).hexdigest()[:12]
    return cache_dir() / "xla" / name


def enable() -> Path | None:
    """Use the cache (call before TensorFlow is imported). Returns its folder, or None when off."""
    flags, path = os.environ.get("TF_XLA_FLAGS", ""), folder()
    ours = f"{FLAG}={path}"  # set by a charbot process this one was started from
    if os.environ.get("CHARBOT_XLA_CACHE") == "0" or (FLAG in flags and ours not in flags):
        return None  # off, or the user chose a cache of their own
    try:
        path.mkdir(parents=True, exist_ok=True)
        kept, _ = _verify(path)
    except OSError:
        return None  # an unwritable cache folder: compile every time, as without a cache
    if ours not in flags:
        os.environ["TF_XLA_FLAGS"] = f"{flags} {ours}".strip()
    atexit.register(record, path, kept)
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def drop_unverified(path: Path) -> list[str]:
    """Delete every cache entry the manifest does not vouch for; returns their names."""
    return _verify(path)[1]


def _verify(path: Path) -> tuple[dict, list[str]]:
    """({name: sha256} of the entries kept, names of the entries deleted)."""
    try:
        known = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        if not isinstance(known, dict):
            raise ValueError
    except (OSError, ValueError):
        known = {}
    kept, dropped = {}, []
    for entry in path.glob("*.pb"):
        digest = _digest(entry)
        if known.get(entry.name) == digest:
            kept[entry.name] = digest
        else:
            entry.unlink(missing_ok=True)
            dropped.append(entry.name)
    return kept, dropped


def record(path: Path, known: dict | None = None) -> None:
    """Write the manifest of the entries now in the cache (at exit, after TensorFlow wrote them).

    `known`: digests already checked at start, not read again; nothing is written if no entry is new.
    """
    known = known or {}
    try:
        names = sorted(entry.name for entry in path.glob("*.pb"))
        if known and set(names) == set(known):
            return
        digests = {name: known.get(name) or _digest(path / name) for name in names}
        write_atomically(path / MANIFEST, json.dumps(digests, indent=1).encode("utf-8"))
    except OSError:
        pass  # a read-only or vanished cache only costs the next start a compile
