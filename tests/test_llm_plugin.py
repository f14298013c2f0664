"""The llm plugin, through llm's own command line run in-process."""

import pytest
from click.testing import CliRunner

import charbot

cli = pytest.importorskip("llm.cli").cli


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.setenv("LLM_USER_PATH", str(tmp_path / "llm"))  # llm's logs and settings stay here

    def invoke(*args, input=None):
        return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)

    return invoke


def test_llm_lists_and_prompts_charbot(run, tiny_checkpoint):
    assert "charbot" in run("models").output
    result = run("-m", "charbot", "WREN:", "-o", "max_chars", "40", "-o", "random_seed", "3",
                 "-o", "checkpoint", str(tiny_checkpoint), "-o", "temperature", "0.8")
    assert result.exit_code == 0, result.output
    expected = charbot.load(tiny_checkpoint).generate("WREN:", max_chars=40, random_seed=3, temperature=0.8)
    assert result.output == expected + "\n"


def test_bad_options_get_llms_usual_error(run, tiny_checkpoint):
    result = run("-m", "charbot", "WREN:", "-o", "temperature", "-1", "-o", "checkpoint", str(tiny_checkpoint))
    assert result.exit_code != 0 and "temperature" in result.output
    result = run("-m", "charbot", "WREN:", "-o", "colour", "red")
    assert result.exit_code != 0 and "colour" in result.output


def test_llm_chat_carries_the_state_across_turns(run, tiny_checkpoint):
    options = ["-o", "max_chars", "30", "-o", "random_seed", "5", "-o", "checkpoint", str(tiny_checkpoint)]
    result = run("chat", "-m", "charbot", *options, input="WREN:\nThe\nquit\n")
    assert result.exit_code == 0, result.output
    chat = charbot.load(tiny_checkpoint).conversation(max_chars=30, stop=None)
    first, second = chat.say("WREN:", random_seed=5), chat.say("The", random_seed=5)
    assert first in result.output and second in result.output
    fresh = charbot.load(tiny_checkpoint).generate("The", max_chars=30, random_seed=5)
    assert fresh != second  # the second reply did depend on the first turn
