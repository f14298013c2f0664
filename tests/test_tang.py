"""The `tang` corpus builder: JSON records in, the layout out, on records these tests write (and on the
real 全唐诗 where ../shared holds it)."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from charbot.corpus import load_corpus, tang
from charbot.errors import CharbotError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "chinese-poetry" / "quantangshi"
RECORDS = [
    {"title": "山行", "paragraphs": ["遠上寒山石徑斜，白雲生處有人家。", "停車坐愛楓林晚，霜葉紅於二月花。"]},
    {"title": "有注", "paragraphs": ["春風（一作秋風）吹，明月照。"]},  # a note: dropped
    {"title": "缺字", "paragraphs": ["春□吹不盡，明月照無眠。"]},  # a lost character: dropped
    {"title": "江雪", "paragraphs": ["千山鳥飛絕，萬徑人蹤滅。", "孤舟蓑笠翁，獨釣寒江雪。"]},
]


def identity(text: str) -> str:
    return text


def write_folder(folder: Path, records=RECORDS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "poet.tang.1000.json").write_text(json.dumps(records[2:], ensure_ascii=False), encoding="utf-8")
    (folder / "poet.tang.0.json").write_text(json.dumps(records[:2], ensure_ascii=False), encoding="utf-8")
    return folder


def test_the_layout_keeps_clean_poems_only(tmp_path):
    text, files = tang.build_text(write_folder(tmp_path / "q"), identity, floor=1)
    poems = text.split("\n\n")[:-1]
    assert sorted(poems) == ["山行\n遠上寒山石徑斜，白雲生處有人家。\n停車坐愛楓林晚，霜葉紅於二月花。",
                             "江雪\n千山鳥飛絕，萬徑人蹤滅。\n孤舟蓑笠翁，獨釣寒江雪。"]
    assert [f["name"] for f in files] == ["poet.tang.0.json", "poet.tang.1000.json"]  # numeric order


def test_rare_characters_drop_their_poems():
    poems = [("甲", ["春风吹，明月照。"])] * 3 + [("乙", ["春风吹，明月龘。"])]
    assert tang.floored(poems, floor=3) == poems[:3]


def test_an_npm_tarball_gives_the_same_text(tmp_path):
    folder = write_folder(tmp_path / "q")
    tarball = tmp_path / "chinese-poetry-2.0.1.tgz"
    with tarfile.open(tarball, "w:gz") as tar:
        for path in folder.iterdir():
            tar.add(path, arcname=f"package/dist/quantangshi/{path.name}")
    assert tang.build_text(tarball, identity, 1) == tang.build_text(folder, identity, 1)


def test_built_into_the_data_folder_and_loaded_by_name(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(CharbotError, match="not built yet: run charbot corpus build tang"):
        load_corpus("tang")
    record = tang.build(write_folder(tmp_path / "q", RECORDS * 2), identity, floor=1)
    corpus = load_corpus("tang")
    assert corpus.sha256 == record["sha256"] and record["poems"] == 4 and "山行" in corpus.text
    tang.text_path().write_text("changed", encoding="utf-8")
    with pytest.raises(CharbotError, match="has changed since it was built"):
        load_corpus("tang")


def test_a_folder_without_poems_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CharbotError, match="holds no poet.tang.N.json"):
        tang.build_text(tmp_path / "empty", identity)


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/corpora/chinese-poetry is absent")
def test_the_real_collection_in_simplified_characters():
    pytest.importorskip("opencc")
    text, files = tang.build_text(SHARED)
    assert len(files) == 58 and 45_000 < text.count("\n\n") < 50_000
    assert "風" not in text and "风" in text and "□" not in text and "（" not in text
