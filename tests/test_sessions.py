"""Sessions that survive the terminal: saved after every turn, resumed exactly, bad files in one line."""

import io
import json

import numpy as np
import pytest
from rich.console import Console

from charbot import sessions
from charbot.config import SampleConfig
from charbot.engine import load_engine
from charbot.repl import Chat, run_script
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
    resumed, output = chat_with(tiny, "harbour")
    run_script(resumed, ["What news?", "/as off", "ROOK:"])
    assert "session harbour: 1 turn" in output.getvalue()
    assert [t.reply for t in resumed.session.turns] == [t.reply for t in straight.session.turns]
    assert resumed.session.transcript() == straight.session.transcript()
    for (h1, c1), (h2, c2) in zip(resumed.session.state.layers, straight.session.state.layers):
        np.testing.assert_array_equal(np.asarray(h1), np.asarray(h2))
    again, _ = chat_with(tiny, "harbour")  # undo keeps working after a reload
    run_script(again, ["/undo"])
    np.testing.assert_array_equal(np.asarray(again.session.state.logits),
                                  np.asarray(straight.session.turns[-1].before.logits))


def test_save_load_sessions_and_export(tiny, tmp_path):
    chat, output = chat_with(tiny)
    run_script(chat, ["/seed 2", "WREN:", "/save scene", "ASHER:", "/sessions", f"/export {tmp_path / 'scene.md'}"])
    assert "saved session scene" in output.getvalue() and " 2 turns" in output.getvalue()
    assert (tmp_path / "scene.md").read_text().startswith("# charbot session with")
    other, out2 = chat_with(tiny)
    run_script(other, ["/load scene"])
    assert len(other.session.turns) == 2 and other.session.settings.seed == 2
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
    assert other.session.transcript() == chat.session.transcript()
    np.testing.assert_allclose(np.asarray(other.session.state.logits), np.asarray(chat.session.state.logits),
                               rtol=1e-4, atol=1e-4)
