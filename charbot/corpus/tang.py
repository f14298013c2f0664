"""The corpus `tang`: 全唐诗 (the complete Tang poems), built from the chinese-poetry project's JSON files.

The project commits no text written by others, so the poems are read from a folder the user has (or the
npm tarball `chinese-poetry-2.0.1.tgz`) and written into the user's data folder, never into the project:

    charbot corpus build tang --from PATH   # the folder of poet.tang.*.json, or the .tgz

What the builder does, in order:
- converts traditional characters to simplified with OpenCC `t2s` (lossy: 發 and 髮 both become 发);
- drops poems with notes or quotation marks (brackets of any kind), lost characters (□), characters
  outside the BMP or anything but Chinese characters and ，。！？；、： in the rows;
- drops the poems that hold a character seen fewer than `VOCAB_FLOOR` times in what is left (about 3%
  of them; an unknown-character symbol would teach the model to write it);
- shuffles the poems with a fixed seed, so the last 10% (the validation split) is a sample of them all;
- lays each poem out as its title on a line, one couplet row a line (`床前明月光，疑是地上霜。`), and a
  blank line after it.

The sha256 of every source file and of the result go into `tang.json` beside the text. This module
reads and writes text; it neither trains nor generates.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import tarfile
from collections import Counter
from importlib import metadata
from pathlib import Path

from charbot.errors import CharbotError
from charbot.system.resources import data_dir, write_atomically

TANG = "tang"
VOCAB_FLOOR = 3  # a character seen fewer times than this cannot be learned; its poems are dropped
SHUFFLE_SEED = 618
HAN = "\u3400-\u4dbf\u4e00-\u9fff"  # the CJK ideographs of the BMP (extension A and the unified block)
ROW_PUNCTUATION = "，。！？；、："
_ROW = re.compile(f"[{HAN}{ROW_PUNCTUATION}]+")
_TITLE = re.compile(f"[{HAN}][{HAN} ·、，]*")
_FILE = re.compile(r"poet\.tang\.(\d+)\.json$")

Poem = tuple[str, list[str]]  # (title, couplet rows)


def tang_dir() -> Path:
    return data_dir() / "corpora"


def text_path() -> Path:
    return tang_dir() / f"{TANG}.txt"


def record_path() -> Path:
    return tang_dir() / f"{TANG}.json"


def _sources(source: Path) -> list[tuple[str, bytes]]:
    """(file name, bytes) of each poet.tang.N.json, in the order of N, from a folder or an npm tarball."""
    if source.is_dir():
        found = [(p.name, p.read_bytes()) for p in source.rglob("poet.tang.*.json") if _FILE.search(p.name)]
    elif source.is_file() and source.name.endswith((".tgz", ".tar.gz")):
        with tarfile.open(source) as tar:
            found = [(Path(m.name).name, tar.extractfile(m).read()) for m in tar.getmembers()  # type: ignore[union-attr]
                     if m.isfile() and _FILE.search(m.name) and "quantangshi" in m.name]
    else:
        raise CharbotError(f"{source} is neither a folder nor a .tgz: give the folder that holds poet.tang.*.json "
                           "(chinese-poetry's 全唐诗 or quantangshi) or the npm tarball chinese-poetry-2.0.1.tgz")
    if not found:
        raise CharbotError(f"{source} holds no poet.tang.N.json file: give chinese-poetry's quantangshi folder")
    return sorted(found, key=lambda item: int(_FILE.search(item[0]).group(1)))  # type: ignore[union-attr]


def _converter():
    try:
        import opencc
    except ModuleNotFoundError:
        raise CharbotError("building the tang corpus needs OpenCC: pip install 'charbot[train]' (or opencc)") from None
    return opencc.OpenCC("t2s")


def clean_poem(record: dict, convert) -> Poem | None:
    """The poem in simplified characters, or None where the rules in the module docstring drop it."""
    title = convert(str(record.get("title", "")).strip())
    rows = [convert(str(row).strip()) for row in record.get("paragraphs", ()) if str(row).strip()]
    if not rows or not _TITLE.fullmatch(title) or not all(_ROW.fullmatch(row) for row in rows):
        return None
    return title, rows


def poems_from(files: list[tuple[str, bytes]], convert) -> list[Poem]:
    poems = []
    for name, data in files:
        try:
            records = json.loads(data)
        except ValueError:
            raise CharbotError(f"{name} is not valid JSON: fetch the chinese-poetry files again") from None
        poems += [poem for record in records if (poem := clean_poem(record, convert))]
    return poems


def floored(poems: list[Poem], floor: int = VOCAB_FLOOR) -> list[Poem]:
    """The poems whose every character is seen at least `floor` times in them all."""
    counts = Counter(char for title, rows in poems for char in title + "".join(rows))
    rare = {char for char, count in counts.items() if count < floor}
    return [poem for poem in poems if not rare.intersection(poem[0] + "".join(poem[1]))]


def layout(poems: list[Poem]) -> str:
    return "".join(title + "\n" + "\n".join(rows) + "\n\n" for title, rows in poems)


def build_text(source: Path, convert=None, floor: int = VOCAB_FLOOR) -> tuple[str, list[dict]]:
    """The corpus text and, per source file, its name, size and sha256."""
    files = _sources(source)
    poems = floored(poems_from(files, convert or _converter().convert), floor)
    random.Random(SHUFFLE_SEED).shuffle(poems)
    records = [{"name": name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()} for name, data in files]
    return layout(poems), records


def build(source: Path, convert=None, floor: int = VOCAB_FLOOR) -> dict:
    """Build the corpus from `source` into the user's data folder; returns what `tang.json` records."""
    text, files = build_text(Path(source).expanduser(), convert, floor)
    data = text.encode("utf-8")
    record = {
        "name": TANG, "source": str(Path(source).resolve()), "files": files,
        "opencc": _version("opencc"), "vocab_floor": floor, "shuffle_seed": SHUFFLE_SEED,
        "poems": text.count("\n\n"), "characters": len(text), "distinct_characters": len(set(text)),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    write_atomically(text_path(), data)  # the text first: a record never describes a text that is not there
    write_atomically(record_path(), json.dumps(record, ensure_ascii=False, indent=1).encode("utf-8"))
    return record


def built_record() -> dict:
    """What the last build recorded; a one-line error where the corpus has not been built."""
    if not text_path().is_file() or not record_path().is_file():
        raise CharbotError("the corpus 'tang' is not built yet: run charbot corpus build tang --from PATH, "
                           "PATH being chinese-poetry's quantangshi folder or the npm tarball")
    return json.loads(record_path().read_text(encoding="utf-8"))


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "none"
