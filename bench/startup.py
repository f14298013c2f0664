"""Start-up: time to the prompt, time to the first generated character, and the TensorFlow import.

Runs the real `charbot chat` in a pseudo-terminal, types a seed the moment the prompt appears, and
watches the output for the first generated character: on LiteRT (the default), and on the TensorFlow
engine (`--runtime tf`) with XLA's persistent compilation cache (filled by one run before timing) and
without it (CHARBOT_XLA_CACHE=0, every launch compiles). Then `charbot generate "ROMEO:" --len 100`
and `charbot generate - --len 100` with a 1 MB seed on stdin, wall time and peak RSS, on both
runtimes. For comparison it times `python -c "import tensorflow"` in the same run. Each figure is the
median of --runs runs.
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


def time_chat(checkpoint: str | None, cache: str, runtime: str = "tf") -> tuple[float, float]:
    args = ["-m", "charbot", "chat", "--runtime", runtime] + (["--checkpoint", checkpoint] if checkpoint else [])
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
    # First, while this process is small: a child's peak RSS counts what it shared with its parent
    # before it started Python anew, and `header()` below loads TensorFlow here.
    generate_lines = generate_rows(args.checkpoint, cache, args.runs)
    time_chat(args.checkpoint, cache)  # fills the XLA cache
    time_chat(args.checkpoint, cache, "litert")  # exports model.tflite if the checkpoint lacks one
    imports, runs = [], {"LiteRT": [], "warm XLA cache": [], "no XLA cache": []}
    for _ in range(args.runs):
        imports.append(time_import())
        runs["LiteRT"].append(time_chat(args.checkpoint, cache, "litert"))
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
        versus = "" if name == "LiteRT" else f" (import + {first - tf_import:.2f} s; target import + 1.0 s)"
        print(f"{name}: process start -> first character:   {first:6.2f} s{versus}")
        if name == "LiteRT":
            print(f"LiteRT: prompt shown -> first character:         {first - prompt:6.2f} s (target <= 0.5 s)")
    print()
    print("\n".join(generate_lines))


def time_generate(argv: list[str], stdin: bytes | None, cache: str) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one `charbot generate` process."""
    env = {**os.environ, "XDG_CACHE_HOME": cache}
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "charbot", "generate", *argv], stdin=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    if stdin is not None:
        child.stdin.write(stdin)
    child.stdin.close()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    assert child.returncode == 0, argv
    return time.perf_counter() - started, usage.ru_maxrss / 1024


def generate_rows(checkpoint: str | None, cache: str, runs: int) -> list[str]:
    from charbot.corpus import load_corpus

    megabyte = load_corpus("shakespeare").text[:1_000_000].encode("utf-8")
    where = ["--checkpoint", checkpoint] if checkpoint else []
    cases = [("generate 'ROMEO:' --len 100", ["ROMEO:"], None, "<= 1.0 s, <= 200 MB"),
             ("generate - --len 100, 1 MB on stdin", ["-"], megabyte, "<= 2 s")]
    lines = []
    for runtime in ("litert", "tf"):
        for name, argv, stdin, target in cases:
            times = [time_generate([*argv, "--len", "100", "--seed", "1", "--runtime", runtime, *where], stdin, cache)
                     for _ in range(runs)]
            wall, rss = statistics.median(t[0] for t in times), statistics.median(t[1] for t in times)
            lines.append(f"{runtime:6s} {name:40s} {wall:6.2f} s, peak RSS {rss:5.0f} MB"
                         + (f" (target {target})" if runtime == "litert" else ""))
    return lines


if __name__ == "__main__":
    main()
