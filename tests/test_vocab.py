import json

from hypothesis import given
from hypothesis import strategies as st

from charbot.model.vocab import Vocabulary


def test_round_trip_of_known_text():
    vocab = Vocabulary.from_text("hello, world\n")
    ids = vocab.ids_from_text("low, old\n")
    assert vocab.text_from_ids(ids) == "low, old\n"
    assert ids == [vocab.chars.index(c) for c in "low, old\n"]


def test_unknown_characters_are_skipped_and_reported():
    vocab = Vocabulary.from_text("abc ")
    encoded = vocab.encode("a€b🙂c€ z")
    assert vocab.text_from_ids(encoded.ids) == "abc "
    assert encoded.skipped == "€🙂z"


def test_json_round_trip_keeps_non_ascii():
    vocab = Vocabulary.from_text("café 東京\n—")
    again = Vocabulary.from_json(vocab.to_json())
    assert again == vocab
    assert json.loads(vocab.to_json())["chars"] == vocab.chars


@given(st.text(min_size=1))
def test_any_text_round_trips_through_its_own_vocabulary(text):
    vocab = Vocabulary.from_text(text)
    assert vocab.text_from_ids(vocab.ids_from_text(text)) == text
    assert vocab.encode(text).skipped == ""


@given(st.text(min_size=1), st.text())
def test_encoding_never_fails_and_only_drops_unknowns(known, other):
    vocab = Vocabulary.from_text(known)
    encoded = vocab.encode(other)
    assert vocab.text_from_ids(encoded.ids) == "".join(c for c in other if c in vocab)
    assert set(encoded.skipped) == {c for c in other if c not in vocab}
