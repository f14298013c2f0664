import io
from pathlib import Path
from types import SimpleNamespace

import pytest
from prompt_toolkit import PromptSession
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from rich.console import Console

from charbot.chat import commands
from charbot.config import SampleConfig
from charbot.chat.prompt import CommandCompleter, make_history
from charbot.chat.repl import Chat, loop, run_script
from fakes import FakeEngine, FakeState, ReadyLoader

CHECKPOINT = SimpleNamespace(path=Path("/models/fake/best"))


def make_chat(engine=None, terminal=False, width=100):
    output = io.StringIO()
    console = Console(file=output, force_terminal=terminal, width=width, color_system="truecolor" if terminal else None)
    chat = Chat(console, ReadyLoader(engine or FakeEngine(), CHECKPOINT), SampleConfig())
    return chat, output


def drive(chat, keys: str) -> int:
    """Type `keys` into the real prompt-toolkit loop through a pipe, then end with Ctrl-D."""
    with create_pipe_input() as pipe:
        pipe.send_text(keys + "\x04")
        session = PromptSession(input=pipe, output=DummyOutput(), bottom_toolbar=chat.toolbar)
        return loop(chat, session)


def test_a_typed_line_streams_a_reply_and_settings_change_live():
    chat, output = make_chat()
    status = drive(chat, "WREN:\r/temp 0.2\r/seed 42\rASHER:\r")
    assert status == 0
    text = output.getvalue()
    assert "WREN:[la] la" in text  # seed, then the reply, with [ printed as text
    assert "ASHER:[la] la 42\n\n" in text  # the fixed seed reached the engine
    assert chat.wait_for_model().settings.temperature == 0.2
    assert "temp 0.2" in chat.toolbar().value
    assert len(chat.wait_for_model().turns) == 2


def test_bad_arguments_get_one_line_and_the_session_goes_on():
    chat, output = make_chat()
    drive(chat, "/temp abc\r/temp -1\r/temp nan\r/temp inf\r/len 0\r/topk 0\r/topp 2\r/heat maybe\r/tmep 1\rX\r")
    lines = [line for line in output.getvalue().splitlines() if line.strip()]
    assert lines[:9] == [
        "temperature must be a number, not 'abc'",
        "temperature must be 0 or more, not '-1': try 0.6 (0 = greedy)",
        "temperature must be a finite number, not 'nan': try 0.6 (0 = greedy)",
        "temperature must be a finite number, not 'inf': try 0.6 (0 = greedy)",
        "length must be a whole number above 0, not '0'",
        "top-k must be 1 or more (or 'off'), not '0'",
        "top-p must be above 0 and at most 1 (or 'off'), not '2'",
        "/heat takes 'on' or 'off', not 'maybe'",
        "unknown command /tmep; did you mean /temp?",
    ]
    assert chat.wait_for_model().settings == SampleConfig()
    assert chat.wait_for_model().turns[0].seed_text == "X"


def test_undo_regen_and_reset_pick_the_right_states():
    chat, _ = make_chat()
    run_script(chat, ["first", "second"])
    session = chat.wait_for_model()
    after_first = session.turns[0].after
    run_script(chat, ["/undo"])
    assert session.state == after_first and len(session.turns) == 1
    run_script(chat, ["/regen"])
    assert len(session.turns) == 1
    regen = session.turns[0]
    assert regen.before == FakeState("\n\n") and regen.after_seed == FakeState("\n\nfirst")
    assert regen.after.text == "\n\nfirst" + regen.reply
    run_script(chat, ["/reset"])
    assert session.state == FakeState("\n\n") and session.turns == []


def test_ctrl_c_mid_reply_keeps_only_what_was_shown():
    chat, output = make_chat(FakeEngine(reply_pattern="abcdefgh", interrupt_after=5))
    run_script(chat, ["seed", "/temp 1"])
    turn = chat.wait_for_model().turns[0]
    assert turn.reply == "abcde" and turn.stopped_by == "interrupted"
    assert chat.wait_for_model().state == FakeState("\n\nseedabcde")
    assert chat.wait_for_model().settings.temperature == 1.0  # the session carried on


def test_empty_line_continues_from_the_current_state():
    chat, _ = make_chat()
    run_script(chat, ["hello", ""])
    assert chat.wait_for_model().turns[1].after_seed == chat.wait_for_model().turns[0].after


def test_probs_heat_and_help(tmp_path):
    chat, output = make_chat(terminal=True)
    run_script(chat, ["/probs", "/heat on", "go", "/help"])
    text = output.getvalue()
    assert "next character" in text and "0.600" in text
    assert chat.wait_for_model().heat and "\x1b[38;2;" in text  # per-character truecolour
    for command in commands.COMMANDS:
        assert f"/{command.name}" in text


def test_save_writes_the_transcript_atomically(tmp_path):
    chat, _ = make_chat()
    target = tmp_path / "scene.txt"
    run_script(chat, ["WREN:", f"/transcript {target}"])
    assert target.read_text() == "WREN:" + chat.wait_for_model().turns[0].reply
    assert [p.name for p in tmp_path.iterdir()] == ["scene.txt"]


def test_save_to_an_unwritable_place_is_one_line(tmp_path):
    chat, output = make_chat(width=400)  # the message names a long temporary path: keep it on one line
    run_script(chat, [f"/transcript {tmp_path}/missing/dir/x.txt"])
    assert "cannot write" in output.getvalue() or "wrote" in output.getvalue()
    blocked = tmp_path / "file"
    blocked.write_text("")
    run_script(chat, [f"/transcript {blocked}/x.txt"])
    assert output.getvalue().strip().splitlines()[-1].startswith("cannot write")


def test_model_switch_to_a_missing_checkpoint():
    chat, output = make_chat()
    run_script(chat, ["/model /no/such/checkpoint"])
    assert "no checkpoint at /no/such/checkpoint" in output.getvalue()


def test_quit_ends_the_script():
    chat, _ = make_chat()
    assert run_script(chat, ["a", "/quit", "b"]) == 0
    assert [t.seed_text for t in chat.wait_for_model().turns] == ["a"]


def test_completion_lists_commands_with_descriptions():
    from prompt_toolkit.document import Document

    completions = list(CommandCompleter().get_completions(Document("/t"), None))
    assert [c.text for c in completions] == ["/temp", "/topk", "/topp", "/to", "/transcript"]
    assert completions[0].display_meta_text == "show or set the temperature (0 = greedy)"


def test_unwritable_history_warns_once(tmp_path, monkeypatch):
    blocker = tmp_path / "data"
    blocker.write_text("a file where the folder should be")
    monkeypatch.setenv("XDG_DATA_HOME", str(blocker))
    warnings = []
    history = make_history(warnings.append)
    history.store_string("a line")
    assert len(warnings) == 1 and "history is not saved" in warnings[0]


def test_a_line_sent_while_loading_waits_for_the_model():
    import threading

    from charbot.chat.loader import ModelLoader

    loader = ModelLoader(None)
    chat = Chat(Console(file=io.StringIO()), loader, SampleConfig())
    assert "loading" in chat.toolbar().value

    def finish():
        loader.engine, loader.checkpoint = FakeEngine(), CHECKPOINT
        loader.ready.set()

    threading.Timer(0.3, finish).start()
    run_script(chat, ["early"])
    assert chat.wait_for_model().turns[0].seed_text == "early"


def test_a_model_that_fails_to_load_is_reported_and_commands_still_work():
    from charbot.chat.loader import ModelLoader

    loader = ModelLoader(None)
    loader.error = "checkpoint /x: weights.npz is missing"
    loader.ready.set()
    output = io.StringIO()
    chat = Chat(Console(file=output), loader, SampleConfig())
    run_script(chat, ["hello", "/help"])
    assert "weights.npz is missing" in output.getvalue() and "/quit" in output.getvalue()
    assert "failed to load" in chat.toolbar().value


def test_ctrl_c_while_reading_a_long_paste_leaves_the_session_as_it_was():
    class SlowPrime(FakeEngine):
        def prime(self, state, text):
            if len(text) > 100:
                raise KeyboardInterrupt  # Ctrl-C arrives while the paste is being read
            return super().prime(state, text)

    chat, output = make_chat(SlowPrime())
    drive(chat, "WREN:\r")
    before, turns = chat.wait_for_model().state, list(chat.wait_for_model().turns)
    drive(chat, "x" * 5000 + "\r")
    assert chat.wait_for_model().state == before and chat.wait_for_model().turns == turns
    assert "stopped" in output.getvalue()


def test_a_long_paste_is_echoed_as_its_ends_on_a_terminal_and_whole_in_a_script():
    from charbot.generate.state import PRIME_TAIL

    paste = "a" * 3000 + "b" * 3000
    chat, output = make_chat(terminal=True)
    chat.handle(paste)
    shown = output.getvalue()
    assert "[… 4,000 characters not shown …]" in shown and "a" * 500 in shown and "a" * 501 not in shown
    assert len(chat.wait_for_model().turns[0].seed_text) == 6000  # the transcript keeps it all
    chat, output = make_chat(terminal=False)
    chat.handle(paste + "c" * PRIME_TAIL)
    assert paste in output.getvalue()
    assert f"reading the last {PRIME_TAIL:,} of {6000 + PRIME_TAIL:,} characters" in output.getvalue()


def test_dialogue_mode_feeds_speeches_in_the_corpus_layout():
    engine = FakeEngine(reply_pattern="Aye, and more.\n\nOTHER:\nnever shown")
    chat, output = make_chat(engine)
    drive(chat, "/as WREN\r/to ASHER\rWhere is the boat\r/to off\rAnd the nets\r/as off\rplain\r")
    turns = chat.wait_for_model().turns
    assert [t.seed_text for t in turns] == ["WREN:\nWhere is the boat\n\nASHER:\n", "WREN:\nAnd the nets\n\n", "plain"]
    assert turns[0].reply == "Aye, and more.\n\n"  # the reply ends with its speech
    assert engine.streams[0].settings.stop == ("\n\n",) and engine.streams[2].settings.stop == SampleConfig().stop
    assert chat.wait_for_model().transcript().startswith("WREN:\nWhere is the boat\n\nASHER:\nAye, and more.\n\n")
    assert "you speak as WREN" in output.getvalue() and "the model answers as ASHER" in output.getvalue()


def test_dialogue_toolbar_and_bad_names():
    chat, output = make_chat()
    drive(chat, "/as WREN\r/to ASH:ER\r")
    assert "WREN → anyone" in chat.toolbar().value
    assert "/to takes a speaker's name without ':'" in output.getvalue()


def test_dialogue_with_a_tiny_real_model(tiny_checkpoint):
    from charbot.generate.loading import load_engine
    from charbot.generate.render import TerminalRenderer
    from charbot.chat.session import Session

    engine, _ = load_engine(tiny_checkpoint)
    stopped = 0
    for seed in range(1, 7):  # which seeds end a speech within 300 characters hangs on what the tiny model learnt
        session = Session(engine, "tiny", settings=SampleConfig(max_chars=300), speaker="WREN", addressee="ASHER")
        turn = session.say("What news from shore?", TerminalRenderer(Console(file=io.StringIO())), seed=seed)
        assert turn.seed_text == "WREN:\nWhat news from shore?\n\nASHER:\n"
        if turn.stopped_by == "stop":  # a speech ends at its first blank line, which is kept
            assert turn.reply.endswith("\n\n") and "\n\n" not in turn.reply[:-2]
            stopped += 1
        else:
            assert turn.stopped_by == "length" and len(turn.reply) == 300 and "\n\n" not in turn.reply
    assert stopped


def test_closing_the_chat_as_the_loader_starts_its_late_warm_up_neither_fails_nor_compiles(monkeypatch):
    """`close` runs on the chat's thread and can land between the loader creating its thread for long
    seeds and starting it (a chat that ends at once did: "cannot join thread before it is started")."""
    import threading

    from charbot.chat import loader as loader_module
    from charbot.generate import loading

    warmed = []

    class Warming(FakeEngine):
        def warm_up(self):
            warmed.append("first reply")

        def warm_up_rest(self, closing):
            warmed.append("later")

    loader = loader_module.ModelLoader(None)

    class CloseAsItStarts(threading.Thread):
        def start(self):
            if getattr(self, "_target", None) == loader._warm_rest:
                loader.close()  # the chat ends just now
            super().start()

    monkeypatch.setattr(loading, "load_engine", lambda *args: (Warming(), CHECKPOINT))
    monkeypatch.setattr(loader_module, "threading", SimpleNamespace(Thread=CloseAsItStarts, Event=threading.Event))
    loader._load()  # on this thread, so what `close` raises surfaces here
    assert loader.ready.is_set() and loader.error is None
    if loader._later is not None:
        loader._later.join(timeout=10)
    assert warmed == ["first reply"]  # what the first reply needs; the rest was never compiled
