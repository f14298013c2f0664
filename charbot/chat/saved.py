"""Chat sessions on disk, so a conversation survives closing the terminal.

A session NAME is two files in `~/.local/share/charbot/sessions/` (or at NAME, if NAME is a path):
`NAME.json` (turns, settings, dialogue roles, the model's identity, the sha256 of the arrays file)
and `NAME.npz` (the exact LSTM state and next-character logits, now and around every turn, so
`/undo` and `/regen` work after a reload). Both are written atomically, arrays first; the JSON names
the arrays' sha256, so a pair that does not belong together is caught. No pickles.

A session saved with another model is re-primed from its transcript. This module reads and writes
sessions; it does not print.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from charbot.config import SampleConfig
from charbot.errors import CharbotError
from charbot.generate.state import state_arrays, state_from
from charbot.system.runlock import PidLock
from charbot.system.resources import data_dir, write_atomically

if TYPE_CHECKING:
    from charbot.chat.session import Session

FORMAT = 1


def folder() -> Path:
    return data_dir() / "sessions"


def path_for(name: str) -> Path:
    """`NAME.json` in the sessions folder, or the path NAME names (with or without .json)."""
    if "/" in name or name.endswith(".json"):
        path = Path(name).expanduser()
        return path if path.suffix == ".json" else path.with_name(path.name + ".json")
    return folder() / f"{name}.json"


def lock(name: str, note=None) -> PidLock:
    """The lock that makes one chat the writer of session `name`: `NAME.lock` beside `NAME.json`."""
    return PidLock(path_for(name).with_suffix(".lock"), f"session {name} is open in",
                   "it is open here read-only, nothing is saved; /save NEWNAME keeps it under a new name", "chat",
                   note, unwritable="the chat goes on, nothing is saved; /save NAME saves it in a place that can be written")


def model_identity(checkpoint) -> dict:
    return {"path": str(checkpoint.path), "weights_sha256": checkpoint.weights_sha256}


def save(session, checkpoint, name: str) -> Path:
    """Write the session under `name`; returns the JSON file's path."""
    arrays = state_arrays("now", session.state)
    for i, turn in enumerate(session.turns):
        for which in ("before", "after_seed", "after"):
            arrays.update(state_arrays(f"turn{i}/{which}", getattr(turn, which)))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]  # numpy's stub types the first keyword only
    data = buffer.getvalue()
    settings = dataclasses.asdict(session.settings)
    document = {
        "format": FORMAT, "saved": time.strftime("%Y-%m-%d %H:%M:%S"), "model": model_identity(checkpoint),
        "settings": {**settings, "stop": list(settings["stop"])}, "heat": session.heat,
        "speaker": session.speaker, "addressee": session.addressee,
        "turns": [{"seed_text": t.seed_text, "reply": t.reply, "seed": t.seed, "stopped_by": t.stopped_by}
                  for t in session.turns],
        "arrays_sha256": hashlib.sha256(data).hexdigest(),
    }
    path = path_for(name)
    try:
        write_atomically(path.with_suffix(".npz"), data)
        write_atomically(path, (json.dumps(document, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))
    except OSError as error:
        raise CharbotError(f"cannot save session {name} at {path}: {error.strerror}") from None
    return path


def read(name: str) -> tuple[dict, dict | None]:
    """(the JSON document, the arrays) of a saved session; one clear line for each way it can be bad."""
    path = path_for(name)
    if not path.is_file():
        known = ", ".join(listing_names()) or "none yet"
        raise CharbotError(f"no session {name!r} (sessions: {known}); /save NAME saves one")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        turns = document["turns"]
        if not isinstance(turns, list) or document["format"] != FORMAT:
            raise ValueError("not a session of this format")
    except (OSError, ValueError, KeyError, TypeError):
        raise CharbotError(f"session file {path} is damaged; delete it or pick another session") from None
    arrays_path = path.with_suffix(".npz")
    try:
        data = arrays_path.read_bytes()
        if hashlib.sha256(data).hexdigest() != document.get("arrays_sha256"):
            raise ValueError
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError):
        return document, None  # the arrays are gone or do not match: re-prime from the transcript
    return document, arrays


def restore(document: dict, arrays: dict | None, engine, checkpoint, make_session) -> tuple[Session, str | None]:
    """(a Session rebuilt from a saved one, a note to show or None)."""
    settings = dict(document["settings"], stop=tuple(document["settings"]["stop"]))
    session = make_session(SampleConfig(**settings))
    session.heat, session.speaker, session.addressee = document["heat"], document["speaker"], document["addressee"]
    same_model = document["model"].get("weights_sha256") == model_identity(checkpoint)["weights_sha256"]
    if same_model and arrays is not None:
        layers = len(session.state.layers)
        session.state = state_from(arrays, "now", layers)
        for i, turn in enumerate(document["turns"]):
            states = [state_from(arrays, f"turn{i}/{which}", layers) for which in ("before", "after_seed", "after")]
            session.turns.append(_turn(turn, *states))
        return session, None
    state = engine.fresh_state()  # another model (or lost arrays): read the transcript again
    for turn in document["turns"]:
        after_seed = engine.prime(state, turn["seed_text"])[0]
        after = engine.prime(after_seed, turn["reply"])[0]
        session.turns.append(_turn(turn, state, after_seed, after))
        state = after
    session.state = state
    why = "it was saved with another model" if not same_model else "its state file is missing or damaged"
    return session, f"re-read the session's transcript: {why}"


def _turn(saved: dict, before, after_seed, after):
    from charbot.chat.session import Turn

    return Turn(saved["seed_text"], saved["reply"], before, after_seed, after, saved["seed"], saved["stopped_by"])


def listing_names() -> list[str]:
    return sorted(p.stem for p in folder().glob("*.json"))


def listing() -> list[dict]:
    """Name, model, turns and date of every session in the sessions folder (damaged ones marked)."""
    rows = []
    for name in listing_names():
        try:
            document = json.loads(path_for(name).read_text(encoding="utf-8"))
            rows.append({"name": name, "model": document["model"]["path"], "turns": len(document["turns"]),
                         "saved": document["saved"]})
        except (OSError, ValueError, KeyError, TypeError):
            rows.append({"name": name, "model": "(damaged)", "turns": 0, "saved": ""})
    return rows
