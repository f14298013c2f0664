"""The toolbar fits the terminal: fields dropped or shortened by priority, never a word cut."""

import re

import pytest

from charbot.chat.toolbar import Field, fit
from test_repl import drive, make_chat


def shown(chat, width: int) -> str:
    return re.sub(r"<[^>]+>", "", chat.toolbar(width).value)


def busy_chat():
    """A chat with every field on: speakers, filters, a fixed seed, a reply made (speed), heat."""
    chat, _ = make_chat()
    drive(chat, "/as WREN\r/to ASHER\r/topk 5\r/topp 0.9\r/seed 42\r/heat on\rhello\r")
    return chat


@pytest.mark.parametrize("width", [40, 60, 110])
def test_every_field_is_whole_and_the_first_ones_stay(width):
    chat = busy_chat()
    text = shown(chat, width)
    assert len(text) <= width
    everything = shown(chat, 10_000).split(" · ")
    for field in text.split(" · "):  # each shown field is one of the full fields, or its short form
        assert field in everything or field in ("best", "WREN→ASHER") or field.startswith("mem "), field
    assert "temp 0.6" in text and "len 500" in text
    assert "WREN" in text and "ASHER" in text


def test_what_goes_first_on_a_narrow_terminal():
    chat = busy_chat()
    full, wide, medium, narrow = (shown(chat, w) for w in (10_000, 110, 60, 40))
    assert "heat on" in full and "ch/s" in full
    # 110 columns: everything but the speed and the heat, which go first.
    assert wide.startswith("fake/best · WREN → ASHER · temp 0.6 · len 500 · top-k 5 · top-p 0.9 · seed 42 · ")
    assert "memory" in wide and "heat" not in wide and "ch/s" not in wide
    assert medium.startswith("fake/best · WREN → ASHER · temp 0.6 · len 500") and "seed" not in medium
    assert narrow == "best · WREN→ASHER · temp 0.6 · len 500"


def test_fit_drops_by_priority_then_shortens_then_drops_from_the_end():
    fields = [Field("model/name", short="name"), Field("temp 0.6"), Field("seed random", 2), Field("top-k 5", 1)]
    assert [f.text for f in fit(fields, 100)] == ["model/name", "temp 0.6", "seed random", "top-k 5"]
    assert [f.text for f in fit(fields, 32)] == ["model/name", "temp 0.6", "top-k 5"]
    assert [f.text for f in fit(fields, 21)] == ["model/name", "temp 0.6"]
    assert [f.text for f in fit(fields, 15)] == ["name", "temp 0.6"]
    assert [f.text for f in fit(fields, 6)] == ["name"]
    assert fit(fields, 2) == []


def test_chinese_fields_are_measured_in_columns():
    from prompt_toolkit.utils import get_cwidth

    fields = [Field("tang"), Field("temp 0.6"), Field("form 七绝", 1), Field("藏头 春夏秋冬", 1), Field("rhyme on", 2)]
    for width in (20, 40, 60):
        text = " · ".join(f.text for f in fit(fields, width))
        assert get_cwidth(text) <= width
    assert [f.text for f in fit(fields, 44)] == ["tang", "temp 0.6", "form 七绝", "藏头 春夏秋冬"]  # 43 columns, 33 characters
