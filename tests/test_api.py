"""The public Python API, and the README's example run as it is written."""

import re
from pathlib import Path

import pytest

import charbot

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_readme_example_runs(capsys):
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Using charbot from Python"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    exec(compile(code, "README example", "exec"), {})
    out = capsys.readouterr().out
    assert "nats per character" in out and len(out) > 300


def test_public_names_are_few_and_typed():
    assert sorted(charbot.__all__) == ["Conversation", "Model", "__version__", "load", "train"]
    assert charbot.load.__annotations__["return"] == "Model"


def test_generate_stream_and_conversation_on_a_tiny_model(tiny_run):
    model = charbot.load(tiny_run)  # a run folder: its best/
    one = model.generate("WREN:", max_chars=60, random_seed=7)
    assert one == model.generate("WREN:", max_chars=60, random_seed=7) and len(one) == 60
    assert "".join(model.stream("WREN:", max_chars=60, random_seed=7)) == one
    several = model.generate("WREN:", max_chars=20, random_seed=7, n=3)
    assert len(several) == 3 and all(len(s) == 20 for s in several)
    chat = model.conversation(max_chars=80)
    first = chat.say("WREN:\n", random_seed=1)
    snapshot = chat.snapshot()
    second = chat.say("", random_seed=2)
    chat.undo()
    assert chat.say("", random_seed=2) == second  # undo restored the memory exactly
    chat.restore(snapshot)
    assert chat.transcript == "WREN:\n" + first + ("" if first.endswith("\n") else "\n")
    assert 0 < model.loss("WREN:\nThe morning comes with salt upon the wind,\n") < 5


def test_bad_settings_raise_value_error(tiny_checkpoint):
    model = charbot.load(tiny_checkpoint)
    with pytest.raises(ValueError, match="top-p must be above 0 and at most 1"):
        model.generate("WREN:", top_p=2)
    with pytest.raises(TypeError, match="unknown training settings: colour"):
        charbot.train("x.txt", "runs/x", colour="red")


def test_train_from_python(tmp_path, play_file):
    result = charbot.train(play_file, tmp_path / "run", rnn_units=16, num_layers=1, embedding_dim=8, epochs=1,
                           batch_size=4, seq_len=16, warmup_steps=2)
    assert result.history and (tmp_path / "run" / "best").is_dir()
