"""Start-up: time to the prompt, time to the first generated character, and the TensorFlow import.

Runs the real `charbot chat` in a pseudo-terminal, types a seed the moment the prompt appears, and
watches the output for the first generated character, with XLA's persistent compilation cache
(filled by one run before timing) and without it (CHARBOT_XLA_CACHE=0, every launch compiles). For
comparison it times `python -c "import tensorflow"` in the same run. Each figure is the median of
--runs runs.
Run: .venv/bin/python bench/startup.py [--checkpoint PATH]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import pexpect
from common import header

REPLY_START = b"\x1b[36m"  # the renderer's reply colour: the first generated character follows it
PROMPT = "›".encode()


def time_import() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import tensorflow"], check=True, capture_output=True)
    return time.perf_counter() - started


def time_chat(checkpoint: str | None, cache: str) -> tuple[float, float]:
    args = ["-m", "charbot", "chat"] + (["--checkpoint", checkpoint] if checkpoint else [])
    env = {**os.environ, "XDG_DATA_HOME": tempfile.mkdtemp(), "TERM": "xterm-256color", "XDG_CACHE_HOME": cache}
    started = time.perf_counter()
    child = pexpect.spawn(sys.executable, args, env=env, dimensions=(40, 120))
    seen, prompt_at = b"", None
    try:
        while True:
            try:
                data = child.read_nonblocking(65536, timeout=0.01)
            except pexpect.TIMEOUT:
                continue
            if b"\x1b[6n" in data:  # answer cursor-position requests as a terminal does
                child.send("\x1b[1;1R")
            seen += data
            now = time.perf_counter()
            if prompt_at is None and PROMPT in seen:
                prompt_at = now - started
                child.send("ROMEO:\r")
                seen = b""
            elif prompt_at is not None and REPLY_START in seen:
                return prompt_at, now - started
    finally:
        child.close(force=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="checkpoint folder (default: the shipped model)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    cache = tempfile.mkdtemp()  # a cache of this run's own; the corpus is not needed for the chat
    time_chat(args.checkpoint, cache)  # fills the XLA cache
    imports, runs = [], {"warm XLA cache": [], "no XLA cache": []}
    for _ in range(args.runs):
        imports.append(time_import())
        runs["warm XLA cache"].append(time_chat(args.checkpoint, cache))
        os.environ["CHARBOT_XLA_CACHE"] = "0"
        runs["no XLA cache"].append(time_chat(args.checkpoint, cache))
        del os.environ["CHARBOT_XLA_CACHE"]
    tf_import = statistics.median(imports)
    print(header())  # after the timed runs: it loads TensorFlow (and the XLA cache settings) in this process
    print(f"python -c 'import tensorflow':                    {tf_import:6.2f} s")
    for name, times in runs.items():
        prompt, first = (statistics.median(t[i] for t in times) for i in (0, 1))
        print(f"{name}: process start -> prompt shown:      {prompt:6.2f} s (target <= 1.0 s)")
        print(f"{name}: process start -> first character:   {first:6.2f} s "
              f"(import + {first - tf_import:.2f} s; target import + 1.0 s)")


if __name__ == "__main__":
    main()
