"""Where the files that ship with charbot live: corpus manifests and the default checkpoint.

They sit at the top of the repository (`corpora/`, `checkpoints/`) and are packaged into the wheel as
`charbot/corpora` and `charbot/checkpoints` (see pyproject.toml). A checkout is tried first so an
editable install sees edits at once; an installed wheel falls back to the package data.
"""

from __future__ import annotations

import errno
import os
from importlib import resources
from pathlib import Path

_CHECKOUT_ROOT = Path(__file__).resolve().parents[2]


def shipped_dir(name: str) -> Path:
    """The shipped folder `name` ("corpora" or "checkpoints"), from a checkout or the wheel."""
    in_checkout = _CHECKOUT_ROOT / name
    if (_CHECKOUT_ROOT / "pyproject.toml").is_file() and in_checkout.is_dir():
        return in_checkout
    return Path(str(resources.files("charbot") / name))


def cache_dir() -> Path:
    """Per-user cache for built corpora (never committed, safe to delete)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "charbot"


def data_dir() -> Path:
    """Per-user data folder (chat history)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "charbot"


def write_failure(error: OSError, path: Path, what: str, then: str = "then run again") -> str:
    """The one line for a write that failed: a full disk says so and what to do."""
    if error.errno == errno.ENOSPC:
        return f"no space left on the disk while writing the {what} {path}: free some space, {then}"
    return f"cannot write the {what} {path}: {error.strerror or error}"


def write_synced(path: Path, data: bytes) -> None:
    """Write `data` to `path` and wait until it is on the disk."""
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that a crash leaves either the old file or the new one, whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write_synced(tmp, data)
        os.replace(tmp, path)
    except BaseException:  # a full disk, Ctrl-C: the old file stays, the partial one goes
        tmp.unlink(missing_ok=True)
        raise
