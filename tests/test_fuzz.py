"""Property tests: whatever a user throws in ends in success or one clear line, never a traceback.

Hypothesis draws slash-command lines, setting values, corpora of random bytes, mutated checkpoint
files (with the manifest recomputed, so the checks behind it are reached) and random text.
"""

import hashlib
import json
import shutil

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from charbot.model import checkpoint, network
from charbot.chat import commands
from charbot.config import SampleConfig
from charbot.corpus import load_corpus
from charbot.errors import CharbotError
from charbot.generate.settings import SETTINGS
from charbot.model.vocab import Vocabulary
from test_repl import make_chat

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
ONE_LINE = lambda error: "\n" not in str(error).strip() and str(error).strip()  # noqa: E731

command_names = st.sampled_from([c.name for c in commands.COMMANDS] + ["tmep", "", "TEMP", "model"])
arguments = st.one_of(st.text(max_size=30), st.sampled_from(["off", "random", "0", "-1", "1e309", "nan", "\\n"]))


@FUZZ
@given(command_names, arguments)
def test_random_slash_commands(name, argument):
    chat, output = make_chat()
    line = f"/{name} {argument}"
    if name == "info" or (name in ("model", "save", "load", "transcript") and argument.strip()):
        return  # the fake checkpoint cannot be described; the others reach the file system (tested apart)
    try:
        chat.handle(line)
    except commands.Quit:
        return
    except CharbotError as error:
        assert ONE_LINE(error)


@FUZZ
@given(st.sampled_from(SETTINGS), arguments)
def test_random_strings_for_every_setting(setting, text):
    try:
        value = setting.parse(text)
    except CharbotError as error:
        assert ONE_LINE(error) and len(str(error)) < 200
        return
    config = SampleConfig().replace(**{setting.field: value})
    assert setting.show(getattr(config, setting.field))  # a value that parses can be shown


@FUZZ
@given(st.binary(max_size=3000))
def test_random_bytes_as_a_corpus(tmp_path, data):
    path = tmp_path / "corpus.txt"
    path.write_bytes(data)
    try:
        corpus = load_corpus(str(path))
    except CharbotError as error:
        assert ONE_LINE(error) and path.name in str(error)
        return
    assert corpus.text == data.decode("utf-8")


@FUZZ
@given(st.sampled_from(["weights.npz", "config.json", "vocab.json", "metrics.json"]), st.data())
def test_mutated_checkpoint_files(tmp_path, tiny_checkpoint, name, data):
    target = tmp_path / "ckpt"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(tiny_checkpoint, target)
    content = bytearray((target / name).read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(content) - 1))
        content[position] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        del content[data.draw(st.integers(0, len(content) - 1)):]
    (target / name).write_bytes(bytes(content))
    manifest = json.loads((target / checkpoint.MANIFEST).read_text())
    manifest["files"][name] = {"bytes": len(content), "sha256": hashlib.sha256(content).hexdigest()}
    (target / checkpoint.MANIFEST).write_text(json.dumps(manifest))
    try:
        model, loaded = network.load_model(target)
    except CharbotError as error:
        assert ONE_LINE(error) and str(target) in str(error)
        return
    for weight in model.weights:  # what loads is usable: finite weights of the right shapes
        assert np.isfinite(weight.numpy()).all()


@FUZZ
@given(st.text(min_size=1, max_size=40), st.text(max_size=200))
def test_random_text_through_the_vocabulary(alphabet, text):
    vocab = Vocabulary.from_text(alphabet)
    encoded = vocab.encode(text)
    known = "".join(char for char in text if char in vocab)
    assert vocab.text_from_ids(encoded.ids) == known
    assert set(encoded.skipped) == set(text) - set(alphabet)
    assert Vocabulary.from_json(vocab.to_json()) == vocab
