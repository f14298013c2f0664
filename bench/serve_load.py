"""Load on `charbot serve`: 1, 2, 4, 8 and 16 concurrent streaming clients on 127.0.0.1, for a bounded time.

    .venv/bin/python bench/serve_load.py [--checkpoint shakespeare] [--chars 400] [--rounds 2]

Each client streams a completion of --chars characters (fixed seeds, no stop) with the real `openai` client.
Printed per level: time to the first character (p50, p99), characters a second per stream and in all, the
ratio of the total to one stream's, and failed requests. The server is the same process for every level,
its baseline (one stream) measured in the same run.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import header  # noqa: E402

LEVELS = (1, 2, 4, 8, 16)


def start_server(checkpoint: str) -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "charbot", "serve", "--port", str(port), "--checkpoint",
                                checkpoint, "--max-streams", "16"], stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if urllib.request.urlopen(base + "/health", timeout=1).status == 200:
                return process, base
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the server did not start in 60 s")


def one_client(client, model: str, chars: int, seed: int, out: list) -> None:
    started = time.perf_counter()
    first, text = None, ""
    try:
        for chunk in client.completions.create(model=model, prompt="ROMEO:", max_tokens=chars, seed=seed,
                                               temperature=0.8, stream=True):
            piece = chunk.choices[0].text if chunk.choices else ""
            if piece and first is None:
                first = time.perf_counter() - started
            text += piece
        out.append((first, len(text), time.perf_counter() - started, None))
    except Exception as failure:  # counted, not raised: a load test reports its failures
        out.append((None, 0, time.perf_counter() - started, failure))


def level(client, model: str, streams: int, chars: int, rounds: int) -> dict:
    results: list = []
    started = time.perf_counter()
    for round_ in range(rounds):
        threads = [threading.Thread(target=one_client, args=(client, model, chars, 100 * round_ + i + 1, results))
                   for i in range(streams)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
    wall = time.perf_counter() - started
    good = [r for r in results if r[3] is None]
    waits = sorted(r[0] for r in good if r[0] is not None)
    pick = lambda q: waits[min(len(waits) - 1, int(q * len(waits)))] * 1000 if waits else float("nan")  # noqa: E731
    return {"streams": streams, "p50": pick(0.5), "p99": pick(0.99), "failed": len(results) - len(good),
            "per_stream": sum(r[1] / r[2] for r in good) / max(1, len(good)), "total": sum(r[1] for r in good) / wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="shakespeare")
    parser.add_argument("--chars", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print(header())
    import openai

    process, base = start_server(args.checkpoint)
    try:
        client = openai.OpenAI(base_url=base + "/v1", api_key="none", max_retries=0, timeout=300)
        level(client, args.checkpoint, 1, 50, 1)  # warm-up
        rows = [level(client, args.checkpoint, n, args.chars, args.rounds) for n in LEVELS]
    finally:
        process.terminate()
        process.wait(timeout=30)
    one = rows[0]
    print(f"{args.checkpoint}, {args.chars} characters a request, {args.rounds} rounds a level\n")
    print("| streams | first character p50 | p99 | chars/s per stream | chars/s in all | x one stream | failed |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['streams']} | {row['p50']:.0f} ms | {row['p99']:.0f} ms | {row['per_stream']:,.0f} | "
              f"{row['total']:,.0f} | {row['total'] / one['total']:.2f}x | {row['failed']} |")
    eight = next(row for row in rows if row["streams"] == 8)
    print(f"\n8 streams / 1: {eight['total'] / one['total']:.2f}x in all (target >= 5); first character "
          f"{eight['p50'] / one['p50']:.2f}x one stream's (target <= 2)")


if __name__ == "__main__":
    main()
