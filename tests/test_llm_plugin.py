"""The llm plugin, through llm's own command line (click's runner, in a fresh interpreter).

A fresh interpreter because llm opens its SQLite log on every prompt, and in a process where
TensorFlow was imported before sqlite3 (as in this test process), sqlite3 binds to TensorFlow's
bundled SQLite, which lacks FTS5. The `llm` command imports sqlite3 long before charbot loads
TensorFlow, so real use is unaffected.
"""

import json
import subprocess
import sys

import pytest

import charbot

pytest.importorskip("llm")

RUNNER = """
import json, sys
from click.testing import CliRunner
from llm.cli import cli
args, given = json.loads(sys.argv[1]), sys.argv[2]
result = CliRunner().invoke(cli, args, input=given or None)
print(json.dumps({"exit_code": result.exit_code, "output": result.output}))
"""


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.setenv("LLM_USER_PATH", str(tmp_path / "llm"))  # llm's logs and settings stay here

    def invoke(*args, input=""):
        done = subprocess.run([sys.executable, "-c", RUNNER, json.dumps(list(args)), input], capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    return invoke


def test_llm_lists_and_prompts_charbot(run, tiny_checkpoint):
    assert "charbot" in run("models")["output"]
    result = run("-m", "charbot", "WREN:", "-o", "max_chars", "40", "-o", "random_seed", "3",
                 "-o", "checkpoint", str(tiny_checkpoint), "-o", "temperature", "0.8")
    assert result["exit_code"] == 0, result["output"]
    expected = charbot.load(tiny_checkpoint).generate("WREN:", max_chars=40, random_seed=3, temperature=0.8)
    assert result["output"] == expected + "\n"


def test_bad_options_get_llms_usual_error(run, tiny_checkpoint):
    result = run("-m", "charbot", "WREN:", "-o", "temperature", "-1", "-o", "checkpoint", str(tiny_checkpoint))
    assert result["exit_code"] != 0 and "temperature" in result["output"]
    result = run("-m", "charbot", "WREN:", "-o", "colour", "red")
    assert result["exit_code"] != 0 and "colour" in result["output"]


def test_llm_chat_carries_the_state_across_turns(run, tiny_checkpoint):
    options = ["-o", "max_chars", "30", "-o", "random_seed", "5", "-o", "checkpoint", str(tiny_checkpoint)]
    result = run("chat", "-m", "charbot", *options, input="WREN:\nThe\nquit\n")
    assert result["exit_code"] == 0, result["output"]
    chat = charbot.load(tiny_checkpoint).conversation(max_chars=30, stop=None)
    first, second = chat.say("WREN:", random_seed=5), chat.say("The", random_seed=5)
    assert first in result["output"] and second in result["output"]
    fresh = charbot.load(tiny_checkpoint).generate("The", max_chars=30, random_seed=5)
    assert fresh != second  # the second reply did depend on the first turn


def test_poem_options_reach_the_sampler(run, tiny_checkpoint):
    result = run("-m", "charbot", "WREN:", "-o", "form", "sonnet", "-o", "checkpoint", str(tiny_checkpoint))
    assert result["exit_code"] != 0 and "unknown form 'sonnet'" in result["output"]
    result = run("-m", "charbot", "WREN:", "-o", "form", "qijue", "-o", "checkpoint", str(tiny_checkpoint))
    assert result["exit_code"] != 0 and "knows no Chinese characters" in result["output"]
