"""The streamed scan and the memory-mapped id cache, against the plain in-memory reading of the text."""

import errno
import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from charbot.corpus import ids as corpus_ids
from charbot.corpus import load_corpus
from charbot.errors import CharbotError


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "charbot" / "corpora"


def plain(text: str):
    """What the scan must find, computed the simple way."""
    return hashlib.sha256(text.encode()).hexdigest(), len(text), "".join(sorted(set(text)))


@settings(max_examples=60, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("ab\r\n é€𝄞")), min_size=1, max_size=60),
       chunk=st.integers(1, 9))
def test_scan_and_ids_equal_the_text_read_whole_at_any_chunk_size(tmp_path_factory, text, chunk):
    path = tmp_path_factory.mktemp("scan") / "t.txt"
    path.write_bytes(text.encode("utf-8"))
    corpus_ids.CHUNK_BYTES, saved = chunk, corpus_ids.CHUNK_BYTES  # CRLF and characters cut by a chunk's end
    try:
        found = corpus_ids.scan([path])
        expected = text.replace("\r\n", "\n")
        assert (found.sha256, found.characters, found.alphabet) == plain(expected)
        ids = corpus_ids.open_ids(found, [path])
    finally:
        corpus_ids.CHUNK_BYTES = saved
    assert "".join(found.alphabet[i] for i in ids) == expected


def test_the_cache_is_built_once_as_a_read_only_memory_map(tmp_path, own_cache):
    path = tmp_path / "t.txt"
    path.write_text("to be or not to be\n" * 20)
    corpus = load_corpus(str(path))
    ids = corpus.ids()
    assert isinstance(ids, np.memmap) and ids.dtype == np.uint8 and not ids.flags.writeable
    cached = own_cache / f"ids-{corpus.sha256}.npy"
    assert cached.is_file() and [p.name for p in own_cache.iterdir()] == [cached.name]
    built_at = cached.stat().st_mtime_ns
    assert load_corpus(str(path)).ids().tolist() == ids.tolist()
    assert cached.stat().st_mtime_ns == built_at  # read, not rebuilt


def test_a_changed_corpus_gets_its_own_cache_never_the_old_one(tmp_path, own_cache):
    path = tmp_path / "t.txt"
    path.write_text("abc\n" * 40)
    old = load_corpus(str(path))
    old.ids()
    path.write_text("abd\n" * 40)
    new = load_corpus(str(path))
    assert new.sha256 != old.sha256 and new.alphabet == "\nabd"
    assert "".join(new.alphabet[i] for i in new.ids()) == "abd\n" * 40
    assert len(list(own_cache.glob("ids-*.npy"))) == 2


def test_a_damaged_cache_is_rebuilt(tmp_path, own_cache):
    path = tmp_path / "t.txt"
    path.write_text("abc\n" * 40)
    corpus = load_corpus(str(path))
    corpus.ids()
    (own_cache / f"ids-{corpus.sha256}.npy").write_bytes(b"\x93NUMPY truncated")
    assert "".join(corpus.alphabet[i] for i in corpus.ids()) == "abc\n" * 40


def test_ids_take_the_narrowest_type_the_alphabet_allows(tmp_path):
    assert corpus_ids.id_dtype(256) == np.uint8 and corpus_ids.id_dtype(257) == np.uint16
    assert corpus_ids.id_dtype(70_000) == np.uint32
    path = tmp_path / "wide.txt"
    text = "".join(chr(0x4E00 + i) for i in range(300)) * 2
    path.write_text(text, encoding="utf-8")
    ids = load_corpus(str(path)).ids()
    assert ids.dtype == np.uint16 and ids[:300].tolist() == list(range(300))


def test_a_full_disk_while_the_cache_is_built_is_one_line_and_leaves_nothing(tmp_path, own_cache, monkeypatch):
    path = tmp_path / "t.txt"
    path.write_text("abc\n" * 40)
    corpus = load_corpus(str(path))

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(corpus_ids.os, "fsync", full)
    with pytest.raises(CharbotError) as raised:
        corpus.ids()
    assert str(raised.value) == (f"no space left on the disk while writing the corpus cache "
                                 f"{own_cache / f'ids-{corpus.sha256}.npy'}: free some space, or point "
                                 "XDG_CACHE_HOME at a larger disk")
    assert list(own_cache.iterdir()) == []  # no partial cache, no temporary file
    monkeypatch.undo()
    monkeypatch.setenv("XDG_CACHE_HOME", str(own_cache.parent.parent))
    assert len(corpus.ids()) == 160  # once there is space, it builds


def test_a_bad_byte_is_named_at_its_offset_in_the_file_across_chunks(tmp_path, monkeypatch):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"ab\r\ncd\r\n" * 10 + b"caf\xe9\n")
    monkeypatch.setattr(corpus_ids, "CHUNK_BYTES", 7)
    with pytest.raises(CharbotError, match=r"bad.txt is not valid UTF-8 \(bad byte at offset 83\)"):
        load_corpus(str(path))
    path.write_bytes(b"ok text " * 20 + "é".encode()[:1])
    with pytest.raises(CharbotError, match=r"bad.txt is not valid UTF-8 \(it ends inside a character\)"):
        load_corpus(str(path))
