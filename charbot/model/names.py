"""Which checkpoint folder a name means: a folder, a run folder (its `best/`), or a shipped model's name.

Decided here and nowhere else; this module reads no checkpoint files beyond looking for a manifest.
"""

from __future__ import annotations

from pathlib import Path

from charbot.errors import CharbotError
from charbot.model.checkpoint import MANIFEST
from charbot.system.resources import shipped_dir


def default_checkpoint() -> Path:
    return shipped_dir("checkpoints") / "shakespeare"


def resolve(name: str | Path | None) -> Path:
    """The checkpoint folder meant by `name`, decided here and nowhere else.

    `name` may be a checkpoint folder, a run folder (its `best/` is used), or the name of a shipped
    model; None means the shipped default. A path that exists but is none of these is returned as it
    is, so that `load` names what is wrong with it.
    """
    if name is None:
        path = default_checkpoint()
        if not (path / MANIFEST).is_file():
            raise CharbotError(f"no shipped model at {path}: train one with 'charbot train' and pass --checkpoint")
        return path
    path = Path(name).expanduser()
    for candidate in (path, path / "best", shipped_dir("checkpoints") / str(name)):
        if (candidate / MANIFEST).is_file():
            return candidate
    if path.exists():
        return path
    raise CharbotError(f"checkpoint {name} does not exist (no checkpoint at {name}, in {name}/best, or shipped "
                       f"under that name): give a checkpoint folder, a run folder, or a shipped model name")
