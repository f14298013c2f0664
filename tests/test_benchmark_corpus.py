"""Optional checks on the field's benchmark file; skipped where ../shared/corpora is absent."""

import hashlib
from pathlib import Path

import pytest

from charbot.corpus import load_corpus
from charbot.corpus.streams import split
from charbot.model.vocab import Vocabulary

TINY = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "tinyshakespeare.txt"

pytestmark = pytest.mark.skipif(not TINY.is_file(), reason=f"{TINY} is absent")


def test_tiny_shakespeare_loads_with_nanogpt_split():
    corpus = load_corpus(str(TINY))
    assert corpus.sha256 == hashlib.sha256(TINY.read_bytes()).hexdigest()
    assert corpus.sha256 == "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
    vocab = Vocabulary.from_text(corpus.text)
    assert len(corpus.text) == 1_115_394 and len(vocab) == 65
    _, val = split(vocab.ids_from_text(corpus.text), 0.1)
    assert len(val) == 111_540
