import json

import numpy as np
import pytest

from charbot.corpus import (build_shakespeare, load_corpus, manifest_for, manifest_path, sha256_text,
                            shakespeare_from_markdown)
from charbot.corpus.streams import split
from charbot.errors import CharbotError

MARKDOWN = """# A Play of Our Own

## ACT I

### SCENE I. A quay.

_Enter WREN and ASHER, with nets and
a lantern_

**WREN**  
The tide is in; \\[and\\] the boats are out.  
_\\[Aside]_  
Say nothing of the storm.

**ASHER**  
_\\[To WREN]_  
I say it _\\[laughing]_ all the same.

*Exit Wren.*

And so I stay alone.

[Within]_  

**Chorus**  
Sing low.

### SCENE II. The shore.

Nobody speaks this line.

**WREN**  
One more.  
**ASHER**  
And mine.
"""


def test_markdown_becomes_speaker_layout():
    assert shakespeare_from_markdown(MARKDOWN) == (
        "WREN:\nThe tide is in; [and] the boats are out.\nSay nothing of the storm.\n\n"
        "ASHER:\nI say it all the same.\nAnd so I stay alone.\n\n"
        "CHORUS:\nSing low.\n\n"
        "WREN:\nOne more.\n\nASHER:\nAnd mine.\n\n"
    )


def test_shakespeare_build_is_deterministic_and_matches_manifest():
    first, second = build_shakespeare(), build_shakespeare()
    manifest = json.loads(manifest_path("shakespeare").read_text())
    assert sha256_text(first) == sha256_text(second) == manifest["sha256"]
    assert len(first) == manifest["characters"]
    assert manifest_for(first) == manifest  # the committed manifest is what the build writes, field by field
    assert first.startswith("THESEUS:\nNow, fair Hippolyta") or first.count("\n\n") > 20000
    assert "**" not in first and "_[" not in first


def test_text_file_corpus_with_non_ascii(tmp_path):
    path = tmp_path / "mixed.txt"
    text = "Ünïcödé façade — 東京の夜、静かな雨。\n" * 20
    path.write_text(text, encoding="utf-8")
    corpus = load_corpus(str(path))
    assert corpus.text == text and corpus.sha256 == sha256_text(text)


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "does not exist"),
        (b"", "has 0 characters"),
        (b"tiny", "has 4 characters"),
        (b"a" * 200 + b"\xff\xfe" + b"b" * 10, "offset 200"),
    ],
)
def test_bad_corpus_files_give_one_clear_line(tmp_path, content, message):
    path = tmp_path / "corpus.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CharbotError, match=message) as error:
        load_corpus(str(path))
    assert "\n" not in str(error.value)


def test_unknown_catalogue_name():
    with pytest.raises(CharbotError, match="unknown corpus 'sonnets'"):
        load_corpus("sonnets")


def test_a_corpus_of_several_files_folder_glob_and_list(tmp_path):
    import os

    from charbot.corpus import load_corpus, sha256_text

    folder = tmp_path / "texts"
    (folder / "b").mkdir(parents=True)
    (folder / "a.txt").write_text("A" * 60 + "\n")
    (folder / "b" / "c.txt").write_text("C" * 60)  # no final newline: one is added
    (folder / "notes.md").write_text("not a .txt file\n")
    by_folder = load_corpus(str(folder))
    assert by_folder.text == "A" * 60 + "\n" + "C" * 60 + "\n"
    assert by_folder.name == "texts" and [f["name"] for f in by_folder.files] == [
        str(folder / "a.txt"), str(folder / "b" / "c.txt")]
    assert by_folder.files[1]["sha256"] == sha256_text("C" * 60) and by_folder.files[0]["bytes"] == 61
    by_glob = load_corpus(str(folder / "**" / "*.txt"))
    by_list = load_corpus(os.pathsep.join([str(folder / "a.txt"), str(folder / "b" / "c.txt")]))
    assert by_glob.text == by_list.text == by_folder.text and by_list.name == "2-files"
    # The validation split is the tail of the files read in order: here, the end of the last file.
    _, val = split(by_folder.text, 0.1)
    assert val == by_folder.text[-len(val):] and set(val) <= {"C", "\n"}


def test_a_bad_file_among_several_is_named_with_its_offset(tmp_path):
    from charbot.corpus import load_corpus

    (tmp_path / "good.txt").write_text("fine text\n" * 20)
    (tmp_path / "bad.txt").write_bytes(b"caf\xe9 au lait\n" * 20)
    with pytest.raises(CharbotError, match=r"corpus file .*bad.txt is not valid UTF-8 \(bad byte at offset 3\)"):
        load_corpus(str(tmp_path))
    with pytest.raises(CharbotError, match="the pattern .* matches no file"):
        load_corpus(str(tmp_path / "*.nothing"))
