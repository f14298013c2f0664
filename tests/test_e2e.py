"""The real `charbot` program in a pseudo-terminal, driven the way a person types."""

import os
import re
import signal
import sys
import time

import pexpect
import pyte
import pytest


class Terminal:
    """A child process in a pseudo-terminal whose output is drawn on a pyte screen, as a terminal would."""

    def __init__(self, args, env, columns=120, lines=40):
        # Started with SIGINT ignored, as a job that a script or nohup puts in the background inherits it
        # (pytest run that way passed it on, and Ctrl-C stopped nothing): the chat must still stop on Ctrl-C.
        self.child = pexpect.spawn(sys.executable, args, env=env, dimensions=(lines, columns),
                                   preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
        self.screen = pyte.Screen(columns, lines)
        self.stream = pyte.ByteStream(self.screen)

    def text(self) -> str:
        return "\n".join(line.rstrip() for line in self.screen.display)

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match:
        deadline = time.monotonic() + timeout
        while True:
            match = re.search(pattern, self.text())
            if match:
                return match
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} did not appear; the screen shows:\n{self.text()}")
            try:
                self.feed(self.child.read_nonblocking(65536, timeout=0.2))
            except pexpect.TIMEOUT:
                pass

    def feed(self, data: bytes) -> None:
        """Draw `data`, answering cursor-position requests the way a real terminal does."""
        parts = data.split(b"\x1b[6n")
        for i, part in enumerate(parts):
            self.stream.feed(part)
            if i < len(parts) - 1:
                self.child.send(f"\x1b[{self.screen.cursor.y + 1};{self.screen.cursor.x + 1}R")

    def type(self, keys: str) -> None:
        self.child.send(keys)

    def wait_for_bytes(self, count: int, timeout: float = 60) -> None:
        """Draw output until `count` more bytes have come: a reply is streaming once far more has come
        than the echo of the typed line."""
        deadline, seen = time.monotonic() + timeout, 0
        while seen < count:
            assert time.monotonic() < deadline, f"only {seen} bytes came; the screen shows:\n{self.text()}"
            try:
                data = self.child.read_nonblocking(65536, timeout=0.2)
            except pexpect.TIMEOUT:
                continue
            self.feed(data)
            seen += len(data)

    def finish(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while self.child.isalive() and time.monotonic() < deadline:
            try:
                self.feed(self.child.read_nonblocking(65536, timeout=0.2))
            except (pexpect.TIMEOUT, pexpect.EOF):
                pass
        self.child.close()
        assert self.child.signalstatus is None, f"killed by signal {self.child.signalstatus}:\n{self.text()}"
        return self.child.exitstatus


@pytest.fixture
def terminal(tiny_checkpoint, tmp_path):
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "TERM": "xterm-256color"}
    term = Terminal(["-m", "charbot", "chat", "--checkpoint", str(tiny_checkpoint)], env)
    yield term
    term.child.close(force=True)


def test_a_person_chats_changes_temperature_interrupts_and_leaves(terminal, tmp_path):
    term = terminal
    term.wait_for("/help for commands")
    term.wait_for(r"best · temp 0\.6 · len 500", timeout=90)  # the toolbar, once the model has loaded

    term.type("WREN:\r")
    term.wait_for(r"seed \d+ · \d+ chars · [\d,]+ chars/s")  # the streamed reply, then its status line
    term.wait_for(r"memory \d+ · [\d,]+ ch/s")

    term.type("/temp 0.2\r")
    term.wait_for("temperature 0.2")
    term.wait_for(r"temp 0\.2 · len 500")  # the toolbar changed

    term.type("/temp abc\r")
    term.wait_for("temperature must be a number, not 'abc'")

    term.type("/len 100000\r")
    term.wait_for("length 100000")
    term.type("/stop off\r")
    term.wait_for("stop off")
    term.type("ASHER:\r")
    # A reply of up to 100,000 characters is streaming once the seed's echo starts a line (the prompt's
    # line starts with "› ") and 3,000 bytes have come after it (a fixed sleep raced a loaded machine:
    # the Ctrl-C came before the reply began and was read as a key).
    term.wait_for(r"(?m)^ASHER:")
    term.wait_for_bytes(3000)
    term.type("\x03")
    term.wait_for(r"· stopped")
    term.type("/probs\r")
    term.wait_for("next character")

    term.type("\x04")
    assert term.finish() == 0
    history = (tmp_path / "data" / "charbot" / "history").read_text()
    assert history.count("/temp 0.2") == 1 and "ASHER:" in history


def test_piped_input_is_a_script_with_plain_output(tiny_checkpoint, tmp_path):
    import subprocess

    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    result = subprocess.run(
        [sys.executable, "-m", "charbot", "--checkpoint", str(tiny_checkpoint), "--seed", "9", "--len", "40"],
        input="WREN:\n/temp 0.2\n/temp abc\nASHER:\n", capture_output=True, text=True, env=env, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "\x1b[" not in out
    assert out.startswith("loading the model…\nWREN:") or out.startswith("WREN:")
    assert "temperature 0.2" in out and "temperature must be a number, not 'abc'" in out
    assert "\nASHER:" in out


TANG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "checkpoints", "tang")


@pytest.mark.skipif(not os.path.isfile(os.path.join(TANG, "manifest.json")), reason="the tang model is not shipped yet")
def test_a_poem_to_a_typed_title_in_a_60_column_terminal(tmp_path):
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "TERM": "xterm-256color"}
    term = Terminal(["-m", "charbot", "chat", "--checkpoint", "tang"], env, columns=60, lines=15)
    try:
        term.wait_for(r"tang · temp 0\.6 · len 500", timeout=90)
        term.type("/form 七绝\r")
        term.wait_for("form 七绝")
        term.type("/acrostic 春夏秋冬\r")
        term.wait_for("acrostic 春夏秋冬")
        term.type("江楼\r")
        term.wait_for(r"seed \d+ · \d+ chars")
        rows = re.findall(r"(?m)^([\u4e00-\u9fff]{7})，([\u4e00-\u9fff]{7})。$", term.text())
        assert [first[0] + second[0] for first, second in rows] == ["春夏", "秋冬"], term.text()  # whole rows, one a line
        term.wait_for(r"tang · temp 0\.6 · len 500 · form 七绝 · 藏头 春夏秋冬")  # the toolbar fits, in columns
        term.type("\x04")
        assert term.finish() == 0
    finally:
        term.child.close(force=True)
