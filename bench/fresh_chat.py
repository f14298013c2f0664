"""A newcomer's first `make chat`: seconds from a fresh clone to the chat's prompt, and the venv's size.

Clones this checkout's committed `main` into a temporary folder, runs `make chat` there in a
pseudo-terminal (110 x 30) and stops the clock when the prompt appears; then quits and measures the
`.venv` it made. Twice: with pip's cache as it is, and with PIP_NO_CACHE_DIR=1 (every package from the
registry). Targets (issue 34): 15 s or less to the prompt, 300 MB or less for the venv.
Run: .venv/bin/python bench/fresh_chat.py [--runs 1]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

import pexpect
from common import header

ROOT = Path(__file__).resolve().parent.parent
PROMPT = "›".encode()


def first_chat(env: dict[str, str]) -> tuple[float, int]:
    """(seconds to the prompt, venv megabytes) of `make chat` in a fresh clone."""
    with tempfile.TemporaryDirectory(prefix="charbot-fresh-") as folder:
        clone = Path(folder) / "charbot"
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
        started = time.perf_counter()
        child = pexpect.spawn("make", ["chat"], cwd=clone, env=env, dimensions=(30, 110), timeout=300)
        child.expect(PROMPT)
        seconds = time.perf_counter() - started
        child.sendline("/quit")
        child.expect(pexpect.EOF)
        size = subprocess.run(["du", "-sm", str(clone / ".venv")], capture_output=True, text=True, check=True)
        return seconds, int(size.stdout.split()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="runs of each")
    args = parser.parse_args()
    print(header())
    print(f"{'pip cache':12s} {'prompt after':>13s} {'venv':>8s}")
    for label, extra in (("as it is", {}), ("none", {"PIP_NO_CACHE_DIR": "1"})):
        for _ in range(args.runs):
            env = {key: value for key, value in os.environ.items() if not key.startswith("VIRTUAL_ENV")}
            seconds, megabytes = first_chat({**env, **extra, "TERM": "xterm-256color"})
            print(f"{label:12s} {seconds:12.1f}s {megabytes:5d} MB   (targets: 15 s, 300 MB)", flush=True)


if __name__ == "__main__":
    main()
