"""Long input: a 1 MB seed through `charbot generate -` and a 1 MB paste into the chat.

Measures, in one run and against a short-seed baseline from the same run:
- `charbot generate - --len 100` with 1 MB of the bundled corpus on stdin: wall time and peak RSS;
- the chat in a pseudo-terminal: a 1 MB bracketed paste (as a terminal sends a paste), then Enter,
  with `/len 1`: time from the start of the paste to the reply's status line (the first and only
  reply character), and the chat process' peak RSS (VmHWM);
- `python -c "import tensorflow"`: the memory floor any TensorFlow program here starts from.
Targets (issue 8): <= 5 s and <= 600 MB for both. Run: .venv/bin/python bench/long_input.py
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time

from common import header

SIZE = 1_000_000


def run_measured(args, stdin: bytes = b"") -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of a child process."""
    started = time.perf_counter()
    process = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    process.stdin.write(stdin)
    process.stdin.close()
    _, status, usage = os.wait4(process.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, args
    return time.perf_counter() - started, usage.ru_maxrss / 1024


def chat_paste(text: str) -> tuple[float, float]:
    """(seconds from the paste to the reply's status line, peak RSS in MB) of the chat."""
    import pexpect

    child = pexpect.spawn(sys.executable, ["-m", "charbot", "chat", "--len", "1"], dimensions=(40, 120),
                          env={**os.environ, "TERM": "xterm-256color"})
    seen = bytearray()
    stop = threading.Event()

    def drain():
        while not stop.is_set():
            try:
                data = child.read_nonblocking(1 << 16, timeout=0.05)
                seen.extend(data)
                for _ in range(data.count(b"\x1b[6n")):  # answer cursor-position requests as a terminal does
                    child.send("\x1b[1;1R")
            except pexpect.TIMEOUT:
                pass
            except (pexpect.EOF, OSError):  # the child is gone
                return

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    wait_for(seen, rb"memory [\d,]+", 120)  # the toolbar once the model is ready
    time.sleep(1.0)
    started = time.perf_counter()
    child.send("\x1b[200~" + text + "\x1b[201~")
    child.send("\r")
    wait_for(seen, rb"seed \d+ \xc2\xb7 1 chars", 300)
    seconds = time.perf_counter() - started
    peak = _vm_hwm(child.pid)
    stop.set()
    reader.join()
    child.close(force=True)
    return seconds, peak


def wait_for(buffer: bytearray, pattern: bytes, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not re.search(pattern, bytes(buffer[-200_000:])):
        if time.monotonic() > deadline:
            raise SystemExit(f"{pattern!r} did not appear within {timeout} s")
        time.sleep(0.02)


def _vm_hwm(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    from charbot.corpus import load_corpus

    text = load_corpus("shakespeare").text[:SIZE]
    charbot = [sys.executable, "-m", "charbot"]
    print(header() + "\n")
    floor = run_measured([sys.executable, "-c", "import tensorflow"])
    short = run_measured([*charbot, "generate", "ROMEO:", "--len", "100", "--seed", "1"])
    long = run_measured([*charbot, "generate", "-", "--len", "100", "--seed", "1"], text.encode())
    paste = chat_paste(text)
    print(f"{'case':52s} {'seconds':>8s} {'peak RSS MB':>12s}")
    print(f"{'python -c import tensorflow (the floor)':52s} {floor[0]:8.2f} {floor[1]:12.0f}")
    print(f"{'generate ROMEO: --len 100 (short seed, baseline)':52s} {short[0]:8.2f} {short[1]:12.0f}")
    print(f"{'generate - --len 100, 1 MB seed on stdin':52s} {long[0]:8.2f} {long[1]:12.0f}")
    print(f"{'chat: 1 MB paste -> first reply character':52s} {paste[0]:8.2f} {paste[1]:12.0f}")
    print(f"\n1 MB seed over the short seed: +{long[0] - short[0]:.2f} s, +{long[1] - short[1]:.0f} MB")


if __name__ == "__main__":
    main()
