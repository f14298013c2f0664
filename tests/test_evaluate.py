"""charbot eval: the streamed score against reading the text in one piece, and the command itself."""

import json
import math

import numpy as np
import pytest
import tensorflow as tf

from charbot.model import network
from charbot.model.evaluate import score_text, worst_spans
from test_cli import charbot


@pytest.fixture(scope="module")
def tiny(tiny_checkpoint):
    return network.load_model(tiny_checkpoint)


def one_piece(model, vocab, text):
    """Oracle: every character's loss from one call over the whole text, one stream."""
    ids = np.asarray(vocab.encode(text).ids, np.int32)
    logits, _ = model(tf.constant(ids[None, :-1]), model.zero_state(1))
    return tf.keras.losses.sparse_categorical_crossentropy(ids[None, 1:], logits, from_logits=True).numpy()[0]


def test_one_stream_equals_reading_the_text_in_one_piece(tiny, play_file):
    model, data = tiny
    text = play_file.read_text()[:3000]
    result = score_text(model, data.vocab, text, streams=1)
    assert result.characters == len(text) - 1 and result.streams == 1
    np.testing.assert_allclose(result.losses, one_piece(model, data.vocab, text), rtol=1e-4, atol=1e-5)


def test_parallel_streams_score_every_character_once(tiny, play_file):
    model, data = tiny
    text = play_file.read_text()
    parallel, single = score_text(model, data.vocab, text, streams=8), score_text(model, data.vocab, text, streams=1)
    assert parallel.streams == 8 and parallel.characters == single.characters == len(text) - 1
    assert parallel.nats == pytest.approx(single.nats, abs=0.05)  # only the streams' first characters differ
    assert math.isclose(parallel.bits, parallel.nats / math.log(2))


def test_worst_spans_point_at_the_most_surprising_characters(tiny):
    model, data = tiny
    text = "WREN:\nThe morning comes with salt upon the wind,\n" * 3 + "WREN:\nZZZZ qqqq\n"
    result = score_text(model, data.vocab, text, streams=1)
    spans = worst_spans(text, data.vocab, result.losses, n=2, context=10)
    assert len(spans) == 2 and spans[0]["nats"] >= spans[1]["nats"]
    assert spans[0]["nats"] == pytest.approx(result.losses.max())
    for span in spans:
        assert text[span["position"]] == span["char"]
        assert text[: span["position"]].endswith(span["before"])


@pytest.mark.slow(seconds=18)
def test_eval_command_json_and_worst(tiny_checkpoint, play_file, tmp_path):
    done = charbot("eval", str(play_file), "--checkpoint", str(tiny_checkpoint), "--json", "--worst", "3")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["characters"] == len(play_file.read_text()) - 1
    assert 0 < report["nats_per_char"] < 5 and math.isclose(report["bits_per_char"], report["nats_per_char"] / math.log(2))
    assert len(report["worst"]) == 3 and report["skipped"] == ""
    odd = tmp_path / "odd.txt"
    odd.write_text("WREN:\nThe morning ☃ comes\n" * 20)
    plain = charbot("eval", str(odd), "--checkpoint", str(tiny_checkpoint), "--worst", "2")
    assert plain.returncode == 0, plain.stderr
    assert "nats/char" in plain.stdout and "bits/char" in plain.stdout and "'☃'" in plain.stdout
    missing = charbot("eval", str(tmp_path / "nope.txt"), "--checkpoint", str(tiny_checkpoint))
    assert missing.returncode == 1 and len(missing.stderr.strip().splitlines()) == 1
