"""Poem forms, acrostics and rhymes as a sampler constraint, on both runtimes, against an oracle of their own.

The oracle (`poem_errors`) reads a finished poem with regular expressions and knows nothing of
`generate.forms`. The property tests draw random settings (form, acrostic, rhyme, temperature, top-k,
top-p, min-p, seed) and run a model with random weights: whatever the model prefers, every poem must
come out exact.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from charbot.config import ModelConfig, SampleConfig
from charbot.errors import CharbotError
from charbot.generate.forms import PoemConstraint, constraint_for
from charbot.generate.rhyme import groups_of
from charbot.generate.settings import FORMS, parse_form
from charbot.model.vocab import Vocabulary

HAN = "春夏秋冬山水月花风云光霜乡长明白日天人江上中来不归去春草青烟雨夜声"
VOCAB = Vocabulary.from_text(HAN + "，。！？\nab ")  # ！？, latin and a space: never allowed in a poem


def poem_errors(text: str, form: str, acrostic: str, rhyme: bool, prefix: str = "", han: str = HAN) -> list[str]:
    """What is wrong with `prefix + text` as a poem of these settings (empty: nothing); `han` lists the
    Chinese characters of the model's vocabulary."""
    poem = (prefix + text).lstrip("\n")
    if not poem.endswith("\n\n") or "\n\n" in poem[:-2]:
        return [f"the poem does not end at one blank line: {poem!r}"]
    lines = poem[:-2].split("\n")
    if not re.search("[，。]", lines[0]):
        if not re.fullmatch(f"[{han}]+", lines[0]):
            return [f"bad title {lines[0]!r}"]
        lines = lines[1:]
    length, count = FORMS.get(form, (None, len(acrostic) or None))
    verses = []
    for row in lines:
        match = re.fullmatch(f"([{han}]+)，([{han}]+)。|([{han}]+)。", row)
        if not match:
            return [f"bad row {row!r}"]
        verses += [v for v in match.groups() if v]
    errors = []
    length = length or len(verses[0])
    errors += [f"line {i + 1} has {len(v)} characters, not {length}" for i, v in enumerate(verses) if len(v) != length]
    if count is not None and len(verses) != count:
        errors.append(f"{len(verses)} lines, not {count}")
    errors += [f"line {i + 1} does not start with {a}" for i, (v, a) in enumerate(zip(verses, acrostic)) if v[0] != a]
    if rhyme and len(verses) >= 4:
        anchor = groups_of(verses[1][-1])
        errors += [f"line {i + 1} ends in {v[-1]}, no rhyme with {verses[1][-1]}"
                   for i, v in enumerate(verses) if i % 2 == 1 and i > 1 and anchor and not groups_of(v[-1]) & anchor]
    return errors


@pytest.fixture(scope="module")
def model():
    import keras

    from charbot.model.network import build_model

    keras.utils.set_random_seed(7)
    model = build_model(ModelConfig(vocab_size=len(VOCAB), embedding_dim=8, rnn_units=24, num_layers=2))
    for variable in model.weights:  # peaked distributions, far from uniform: they test the mask harder
        variable.assign(variable.numpy() * 3.0)
    return model


@pytest.fixture(scope="module")
def engines(model, tmp_path_factory):
    from charbot.generate.engine import TFEngine
    from charbot.generate.litert import LiteRTEngine
    from charbot.model.export import convert

    path = tmp_path_factory.mktemp("forms") / "model.tflite"
    path.write_bytes(convert(model, "int8"))
    return {"tf": TFEngine(model, VOCAB), "litert": LiteRTEngine(path, VOCAB, 2, 24)}


def sample_settings():
    def build(form, rhyme, temperature, top_k, top_p, min_p, acrostic_seed):
        count = FORMS[form][1] if form != "off" else acrostic_seed % 7 if acrostic_seed % 3 else 0
        acrostic = "".join(HAN[(acrostic_seed * 7 + i * 3) % len(HAN)] for i in range(count)) if count else ""
        if form == "off" and not acrostic and not rhyme:
            acrostic = "春夏"
        return SampleConfig(temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p, stop=(),
                            max_chars=1000, form=form, acrostic=acrostic if acrostic_seed % 2 or form == "off" else "",
                            rhyme=rhyme)

    return st.builds(build, st.sampled_from([*FORMS, "off"]), st.booleans(),
                     st.sampled_from([0.0, 0.3, 1.0, 2.5]), st.sampled_from([0, 1, 3]),
                     st.sampled_from([1.0, 0.5, 0.05]), st.sampled_from([0.0, 0.2, 0.9]), st.integers(0, 1000))


def write_poem(engine, settings, seed, prefix=""):
    constraint = constraint_for(settings, VOCAB, prefix)
    state, _ = engine.start(prefix)
    stream = engine.stream(state, settings, seed, constraint)
    text = "".join(token.text for token in stream)
    return text, stream, constraint


@pytest.mark.parametrize("runtime,examples", [("litert", 60), ("tf", 12)])
def test_every_poem_keeps_its_form_acrostic_and_rhyme(engines, runtime, examples):
    @hypothesis_settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))
    @given(settings=sample_settings(), seed=st.integers(1, 2**31 - 2))
    def check(settings, seed):
        text, stream, constraint = write_poem(engines[runtime], settings, seed)
        assert stream.stopped_by == "stop" and constraint.finished
        rhyme = settings.rhyme and constraint.fallbacks == 0  # a fallback is allowed to break the rhyme
        assert poem_errors(text, settings.form, settings.acrostic, rhyme) == [], (settings, text)

    check()


def test_a_poem_goes_on_from_a_typed_title_or_first_row(engines):
    settings = SampleConfig(form="五绝", stop=(), temperature=1.0)
    for prefix in ("春江", "春江\n春山明月光，", "春山明月光，风云白日长。"):
        text, _, _ = write_poem(engines["litert"], settings, 5, prefix)
        assert poem_errors(text, "五绝", "", False, prefix) == [], (prefix, text)


def test_the_same_seed_gives_the_same_poem_and_the_runtimes_both_obey(engines):
    settings = SampleConfig(form="七绝", acrostic="春夏秋冬", rhyme=True, temperature=0.8, stop=())
    for engine in engines.values():
        first, _, constraint = write_poem(engine, settings, 11)
        assert first == write_poem(engine, settings, 11)[0]
        assert poem_errors(first, "七绝", "春夏秋冬", constraint.fallbacks == 0) == []


@pytest.mark.parametrize("settings,prefix,message", [
    (SampleConfig(form="五绝"), "春山明月，", "breaks the poem's form at character 5"),
    (SampleConfig(form="五律", acrostic="春夏秋冬"), "", "has 4 characters but a 五律 has 8 lines"),
    (SampleConfig(acrostic="春龙"), "", "never seen 龙"),
    (SampleConfig(form="五绝"), "春山明月光，风云白日长。\n春山明月光，风云白日长。\n\n", "whole poem"),
])
def test_what_cannot_be_a_poem_gets_one_line(settings, prefix, message):
    with pytest.raises(CharbotError, match=message):
        constraint_for(settings, VOCAB, prefix)


def test_a_model_without_chinese_is_told_so():
    with pytest.raises(CharbotError, match="knows no Chinese characters"):
        constraint_for(SampleConfig(form="七绝"), Vocabulary.from_text("abc\n，。"))
    assert constraint_for(SampleConfig(), Vocabulary.from_text("abc")) is None  # no poem asked: no constraint


def test_the_rhyme_falls_back_only_where_its_group_is_unlikely():
    constraint = PoemConstraint(VOCAB, 5, 4, rhyme=True).after("春江\n春山明月光，风云白日长。\n春山明月白，风云白日")
    rhyming = constraint.allowed(np.zeros(len(VOCAB), np.float32))
    chosen = [VOCAB.chars[i] for i in np.flatnonzero(rhyming)]
    assert chosen and all(groups_of(c) & groups_of("长") for c in chosen) and "长" not in chosen
    unlikely = np.where(rhyming, -30.0, 0.0).astype(np.float32)
    assert constraint.allowed(unlikely).sum() > len(chosen) and constraint.fallbacks == 1


def test_form_names_and_aliases():
    assert parse_form("qijue") == "七绝" and parse_form("五律") == "五律" and parse_form("OFF") == "off"
    with pytest.raises(CharbotError, match="unknown form"):
        parse_form("sonnet")


def test_tfp_and_numpy_samplers_never_leave_the_mask():
    import tensorflow as tf

    from charbot.generate import npsampler
    from charbot.generate.sampling import next_ids, settings_tensors

    logits = np.random.default_rng(0).normal(size=(1, 40)).astype(np.float32) * 4
    allowed = np.zeros(40, bool)
    allowed[[3, 17, 29]] = True
    settings = SampleConfig(temperature=1.5, top_p=0.9)
    rng = np.random.default_rng(1)
    drawn = {npsampler.next_id(logits[0], settings, rng, allowed) for _ in range(300)}
    tfp_drawn = {int(next_ids(tf.constant(logits), settings_tensors(settings), tf.constant([1, i]),
                              tf.constant(allowed[None]))[0]) for i in range(100)}
    assert drawn <= {3, 17, 29} and tfp_drawn <= {3, 17, 29} and len(drawn) > 1


def test_a_typed_title_is_whole_and_a_refusal_names_what_was_expected(engines):
    text, _, _ = write_poem(engines["litert"], SampleConfig(form="五绝", stop=(), temperature=1.0), 9, "春江")
    assert text.startswith("\n") and poem_errors(text, "五绝", "", False, "春江") == []
    with pytest.raises(CharbotError, match="at character 1 \\('明'\\): expected '春'"):
        constraint_for(SampleConfig(acrostic="春夏"), VOCAB, "明月照高楼，")


SHIPPED = __import__("pathlib").Path(__file__).resolve().parents[1] / "checkpoints" / "tang"


@pytest.mark.slow(seconds=40)
@pytest.mark.skipif(not (SHIPPED / "manifest.json").is_file(), reason="the tang model is not shipped yet")
@pytest.mark.parametrize("form", list(FORMS))
def test_the_shipped_tang_model_writes_100_valid_poems_in_each_form(form):
    from charbot.generate.loading import load_engine

    engine = load_engine("tang", "litert")[0]
    settings = SampleConfig(form=form, stop=(), temperature=0.8)
    start = engine.fresh_state()
    han = "".join(c for c in engine.vocab.chars if "\u3400" <= c <= "\u9fff")
    bad = []
    for seed in range(1, 101):
        stream = engine.stream(start, settings, seed, constraint_for(settings, engine.vocab))
        text = "".join(token.text for token in stream)
        if poem_errors(text, form, "", False, han=han) or stream.stopped_by != "stop":
            bad.append((seed, text))
    assert bad == []
