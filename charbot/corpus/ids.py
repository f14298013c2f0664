"""A corpus as ids: streamed from its files, cached as a memory-mapped array, keyed by sha256.

Training never holds a corpus as one Python string. The files are read in chunks twice at most:
- the scan, every time: the sha256 of the text (after CRLF -> LF, a newline ending each file of a
  corpus of several), its length in characters and its distinct characters, and UTF-8 checked;
- the build, only when no cache holds that sha256: each character's id (its index in the sorted
  distinct characters) written to `<cache>/corpora/ids-<sha256>.npy`, uint8 when the alphabet has at
  most 256 characters, else uint16 or uint32, and opened as a read-only memory map.

The cache file appears whole or not at all (written beside, then renamed); a corpus that changes gets
a new sha256 and so a new cache file, never a mix. This module reads and encodes; it does not split,
lay out or train, and imports no TensorFlow.
"""

from __future__ import annotations

import codecs
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from charbot.errors import CharbotError
from charbot.system.resources import cache_dir, write_failure

CHUNK_BYTES = 8 << 20
Progress = Callable[[str, int, int], None]  # (what, bytes done, bytes in all)


@dataclass
class Scan:
    """What the scan of a corpus's files found."""

    sha256: str = ""
    characters: int = 0
    alphabet: str = ""  # the distinct characters, sorted by code point
    files: list[dict] = field(default_factory=list)  # per file: name, bytes, sha256 of its text


def id_dtype(alphabet_size: int) -> np.dtype:
    """The narrowest unsigned integer that holds every id."""
    return np.dtype(np.uint8 if alphabet_size <= 256 else np.uint16 if alphabet_size <= 65536 else np.uint32)


def _chunks(path: Path) -> Iterator[tuple[bytes, bytes, int]]:
    """The file's bytes with CRLF as LF, in chunks: (bytes, the raw bytes read, their file offset)."""
    held, start = b"", 0
    with open(path, "rb") as handle:
        while raw := handle.read(CHUNK_BYTES):
            block = held + raw
            held = b"\r" if block.endswith(b"\r") else b""  # a CRLF may straddle two chunks
            yield (block[:-1] if held else block).replace(b"\r\n", b"\n"), raw, start
            start += len(raw)
    if held:
        yield held, b"", start


def _decode(decoder, block: bytes, raw: bytes, path: Path, start: int) -> str:
    """`block` as text (bytes of a character cut by the chunk's end wait for the next one)."""
    pending = decoder.getstate()[0]
    if block.isascii() and not pending:
        return block.decode("ascii")
    try:
        return decoder.decode(block)
    except UnicodeDecodeError:
        try:  # the offset in the file: CRLF -> LF does not move where the first bad byte is
            (pending + raw).decode("utf-8")
            at = start
        except UnicodeDecodeError as error:
            at = start - len(pending) + error.start
        raise CharbotError(f"corpus file {path} is not valid UTF-8 (bad byte at offset {at}): "
                           "convert it to UTF-8 first") from None


def _code_points(text: str, block: bytes | None = None) -> np.ndarray:
    """The code points of `text`; of an ASCII text, its UTF-8 `block` read as they are (4x less memory)."""
    if block is not None and text.isascii() and len(text) == len(block):
        return np.frombuffer(block, dtype=np.uint8)
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


def _blocks(paths: list[Path], end_with_newline: bool, progress: Progress | None, what: str):
    """(path, decoded text, its UTF-8 bytes, whether the file holds it) for every chunk of every file.

    With `end_with_newline`, a file that does not end with a newline is followed by one it does not
    hold."""
    total = sum(p.stat().st_size for p in paths)
    before = 0
    for path in paths:
        decoder, last = codecs.getincrementaldecoder("utf-8")(), b""
        for block, raw, start in _chunks(path):
            if block:
                yield path, _decode(decoder, block, raw, path, start), block, True
                last = block[-1:]
            if progress:
                progress(what, before + start + len(raw), total)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise CharbotError(f"corpus file {path} is not valid UTF-8 (it ends inside a character): "
                               "convert it to UTF-8 first") from None
        if end_with_newline and last != b"\n":
            yield path, "\n", b"\n", False
        before += path.stat().st_size


def scan(paths: list[Path], end_with_newline: bool = False, progress: Progress | None = None) -> Scan:
    """sha256, length and alphabet of the text of `paths` read in order, in one streaming pass."""
    whole, seen, extra = hashlib.sha256(), np.zeros(65536, dtype=bool), set[int]()
    result = Scan()
    per_file, current = hashlib.sha256(), None
    for path, text, block, own in _blocks(paths, end_with_newline, progress, "scanning"):
        if path != current:
            if current is not None:
                result.files.append({"name": str(current), "bytes": current.stat().st_size,
                                     "sha256": per_file.hexdigest()})
            per_file, current = hashlib.sha256(), path
        whole.update(block)
        if own:
            per_file.update(block)
        result.characters += len(text)
        points = _code_points(text, block)
        if points.dtype == np.uint8:
            seen[np.flatnonzero(np.bincount(points, minlength=128))] = True
            continue
        low = points < 65536
        seen[points[low]] = True
        if not low.all():
            extra.update(int(p) for p in np.unique(points[~low]))
    if current is not None:
        result.files.append({"name": str(current), "bytes": current.stat().st_size, "sha256": per_file.hexdigest()})
    code_points = [int(p) for p in np.flatnonzero(seen)] + sorted(extra)
    result.sha256, result.alphabet = whole.hexdigest(), "".join(chr(p) for p in code_points)
    return result


def encode_text(text: str, alphabet: str) -> np.ndarray:
    """Ids of `text` in `alphabet` (every character of `text` must be in it)."""
    return _lookup(alphabet)[_code_points(text)].astype(id_dtype(len(alphabet)))


def _lookup(alphabet: str) -> np.ndarray:
    points = _code_points(alphabet)
    table = np.zeros(int(points.max()) + 1 if len(points) else 1, dtype=np.uint32)
    table[points] = np.arange(len(points), dtype=np.uint32)
    return table


def cache_path(sha256: str) -> Path:
    return cache_dir() / "corpora" / f"ids-{sha256}.npy"


def open_ids(found: Scan, paths: list[Path], end_with_newline: bool = False,
             progress: Progress | None = None) -> np.ndarray:
    """The ids of the scanned corpus as a read-only memory map, built into the cache if absent."""
    path = cache_path(found.sha256)
    dtype = id_dtype(len(found.alphabet))
    if path.is_file():
        try:
            ids = np.load(path, mmap_mode="r")
            if ids.shape == (found.characters,) and ids.dtype == dtype:
                return ids
        except (OSError, ValueError):
            pass  # damaged: rebuilt below, never trusted
    _build(path, found, paths, end_with_newline, dtype, progress)
    return np.load(path, mmap_mode="r")


def _build(path: Path, found: Scan, paths, end_with_newline, dtype, progress) -> None:
    """Encode the corpus into a file beside `path`, then rename it into place.

    Written with plain writes, not through a memory map, so the pages written never count against
    this process's memory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    table = _lookup(found.alphabet).astype(dtype)
    try:
        with open(tmp, "wb") as out:
            header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
                      "shape": (found.characters,)}
            np.lib.format.write_array_header_2_0(out, header)
            at = 0
            for _, text, block, _ in _blocks(paths, end_with_newline, progress, "encoding"):
                ids = table[_code_points(text, block)]
                out.write(ids.tobytes())
                at += len(ids)
            if at != found.characters:
                raise CharbotError(f"corpus changed while it was being read ({at:,} characters, not "
                                   f"{found.characters:,}): run again once it is written")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise CharbotError(write_failure(error, path, "corpus cache",
                                         "or point XDG_CACHE_HOME at a larger disk")) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
