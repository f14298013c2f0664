"""Sessions that survive the terminal: saved after every turn, resumed exactly, bad files in one line."""

import io
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from rich.console import Console

from charbot.chat import saved as sessions
from charbot.config import SampleConfig
from charbot.generate.loading import load_engine
from charbot.chat.repl import Chat, run_script
from fakes import ReadyLoader


@pytest.fixture
def tiny(tiny_checkpoint, monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return load_engine(tiny_checkpoint)


def chat_with(engine_and_data, name=None):
    output = io.StringIO()
    chat = Chat(Console(file=output, width=400), ReadyLoader(*engine_and_data), SampleConfig(max_chars=80), name)
    return chat, output


def test_a_saved_session_continues_exactly_as_an_uninterrupted_one(tiny):
    straight, _ = chat_with(tiny)
    run_script(straight, ["/seed 5", "WREN:", "/as ASHER", "What news?", "/as off", "ROOK:"])
    first, _ = chat_with(tiny, "harbour")
    run_script(first, ["/seed 5", "WREN:", "/as ASHER"])  # saved after every line
    first.release()  # as its process ends
    resumed, output = chat_with(tiny, "harbour")
    run_script(resumed, ["What news?", "/as off", "ROOK:"])
    resumed.release()
    assert "session harbour: 1 turn" in output.getvalue()
    assert [t.reply for t in resumed.wait_for_model().turns] == [t.reply for t in straight.wait_for_model().turns]
    assert resumed.wait_for_model().transcript() == straight.wait_for_model().transcript()
    for (h1, c1), (h2, c2) in zip(resumed.wait_for_model().state.layers, straight.wait_for_model().state.layers):
        np.testing.assert_array_equal(np.asarray(h1), np.asarray(h2))
    again, _ = chat_with(tiny, "harbour")  # undo keeps working after a reload
    run_script(again, ["/undo"])
    np.testing.assert_array_equal(np.asarray(again.wait_for_model().state.logits),
                                  np.asarray(straight.wait_for_model().turns[-1].before.logits))


def test_save_load_sessions_and_export(tiny, tmp_path):
    chat, output = chat_with(tiny)
    run_script(chat, ["/seed 2", "WREN:", "/save scene", "ASHER:", "/sessions", f"/transcript {tmp_path / 'scene.md'}"])
    assert "saved session scene" in output.getvalue() and " 2 turns" in output.getvalue()
    assert (tmp_path / "scene.md").read_text().startswith("# charbot session with")
    other, out2 = chat_with(tiny)
    run_script(other, ["/load scene"])
    assert len(other.wait_for_model().turns) == 2 and other.wait_for_model().settings.seed == 2
    run_script(other, ["/load nothing-here"])
    assert out2.getvalue().strip().splitlines()[-1] == "no session 'nothing-here' (sessions: scene); /save NAME saves one"


def test_a_damaged_session_file_is_one_line_naming_it(tiny):
    chat, _ = chat_with(tiny)
    run_script(chat, ["WREN:", "/save broken"])
    path = sessions.path_for("broken")
    path.write_text("{not json")
    other, output = chat_with(tiny)
    run_script(other, ["/load broken"])
    assert output.getvalue().strip().splitlines()[-1] == f"session file {path} is damaged; delete it or pick another session"


def test_a_session_saved_with_another_model_is_re_read(tiny):
    chat, _ = chat_with(tiny)
    run_script(chat, ["/seed 3", "WREN:", "/save elsewhere"])
    path = sessions.path_for("elsewhere")
    document = json.loads(path.read_text())
    document["model"]["weights_sha256"] = "0" * 64
    path.write_text(json.dumps(document))
    other, output = chat_with(tiny)
    run_script(other, ["/load elsewhere"])
    assert "re-read the session's transcript: it was saved with another model" in output.getvalue()
    assert other.wait_for_model().transcript() == chat.wait_for_model().transcript()
    np.testing.assert_allclose(np.asarray(other.wait_for_model().state.logits), np.asarray(chat.wait_for_model().state.logits),
                               rtol=1e-4, atol=1e-4)


def test_settings_given_on_the_command_line_win_over_a_resumed_session(tiny):
    chat, _ = chat_with(tiny)
    run_script(chat, ["/seed 1", "/temp 0.3", "WREN:", "/save same"])
    engine, data = tiny
    output = io.StringIO()
    resumed = Chat(Console(file=output, width=200), ReadyLoader(engine, data), SampleConfig(seed=3), "same",
                   given={"seed": 3})
    run_script(resumed, ["ASHER:"])
    assert resumed.wait_for_model().settings.seed == 3 and resumed.wait_for_model().settings.temperature == 0.3  # only what was given
    assert resumed.wait_for_model().turns[-1].seed == 3
    assert "--seed 3 overrides the session's seed 1" in output.getvalue()
    output.truncate(0)
    run_script(resumed, ["/seed 5", "/load same"])  # /load too: the command line still wins
    assert resumed.wait_for_model().settings.seed == 3 and "overrides the session's seed" in output.getvalue()


def test_only_flags_actually_given_count_as_given():
    from charbot.cli import build_parser
    from charbot.generate.settings import given_settings

    parser = build_parser()
    assert given_settings(parser.parse_args(["chat", "--seed", "3", "--session", "x"])) == {"seed": 3}
    assert given_settings(parser.parse_args(["chat", "--temp", "0.6", "--top-k", "5"])) == {"temperature": 0.6,
                                                                                           "top_k": 5}
    assert given_settings(parser.parse_args(["chat", "--session", "x"])) == {}
    assert given_settings(parser.parse_args(["chat", "--seed", "random"])) == {"seed": None}


def test_a_session_open_in_another_chat_is_read_only_here_and_says_who_holds_it(tiny):
    first, _ = chat_with(tiny, "same")
    run_script(first, ["WREN:"])  # holds the session now, and saved one turn
    second, output = chat_with(tiny, "same")
    run_script(second, ["ASHER:"])
    lock = sessions.path_for("same").with_suffix(".lock")
    assert (f"session same is open in process {os.getpid()}: it is open here read-only, nothing is saved; "
            "/save NEWNAME keeps it under a new name") in output.getvalue()
    assert len(json.loads(sessions.path_for("same").read_text())["turns"]) == 1  # nothing overwritten
    run_script(second, ["/save other"])
    assert len(json.loads(sessions.path_for("other").read_text())["turns"]) == 2  # kept, under a new name
    run_script(first, ["ASHER:"])
    assert len(json.loads(sessions.path_for("same").read_text())["turns"]) == 2  # the holder still saves
    first.release()
    assert not lock.exists()


def test_two_real_chats_on_one_session_drop_no_turn_in_silence(tiny_checkpoint, tmp_path):
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    command = [sys.executable, "-m", "charbot", "chat", "--checkpoint", str(tiny_checkpoint), "--session", "same",
               "--len", "20"]
    holder = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env)
    saved = tmp_path / "data" / "charbot" / "sessions" / "same.json"
    try:
        holder.stdin.write("WREN:\n")
        holder.stdin.flush()
        deadline = time.monotonic() + 120
        while not saved.is_file() and time.monotonic() < deadline:
            time.sleep(0.2)
        second = subprocess.run(command, input="ASHER:\n", capture_output=True, text=True, env=env, timeout=120)
        assert second.returncode == 0, second.stderr
        assert f"session same is open in process {holder.pid}: it is open here read-only" in second.stdout
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    turns = json.loads(saved.read_text())["turns"]
    assert [t["seed_text"] for t in turns] == ["WREN:"]
    assert not saved.with_suffix(".lock").exists()  # released at exit


def test_a_full_disk_while_a_session_is_saved_is_one_line_and_keeps_the_last_save(tiny, monkeypatch):
    import errno

    chat, output = chat_with(tiny, "full")
    run_script(chat, ["WREN:"])
    path = sessions.path_for("full")
    saved = path.read_bytes()

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", full)
    run_script(chat, ["ASHER:"])
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert output.getvalue().strip().splitlines()[-1] == f"cannot save session full at {path}: No space left on device"
    assert path.read_bytes() == saved  # the last save is whole
    assert not [p for p in path.parent.iterdir() if ".tmp-" in p.name]


@pytest.mark.parametrize("how", ["--session", "/save"])
def test_a_session_where_nothing_can_be_written_is_one_line_and_the_chat_goes_on(tiny, how):
    chat, output = chat_with(tiny, "/proc/charbot-x" if how == "--session" else None)
    script = ["WREN:", "ASHER:"] if how == "--session" else ["WREN:", "/save /proc/charbot-y", "ASHER:"]
    run_script(chat, script)
    lines = [line for line in output.getvalue().splitlines() if "cannot write the lock" in line]
    assert len(lines) == 1 and "the chat goes on, nothing is saved" in lines[0] and "Traceback" not in output.getvalue()
    assert len(chat.wait_for_model().turns) == 2 and chat.session_name is None  # both turns answered, nothing claimed
