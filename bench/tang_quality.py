"""The tang model against its floor: an interpolated bigram on the same split, over all characters and rows alone.

    .venv/bin/python bench/tang_quality.py [--checkpoint tang] [--chars N]

The split is training's own: the last 10% of the built `tang` corpus (charbot corpus build tang) is the
validation text. The bigram is fitted on the training part:
P(c | p) = l * count(p, c) / count(p) + (1 - l) * P(c), with P(c) add-one smoothed, and l chosen on the
validation text itself (which flatters the floor). "Rows" are the characters of poem rows (lines holding
，or 。, their newline included); "all" adds the titles and the blank lines. The model is scored by
`charbot eval`'s reader (parallel streams, state carried), on the same characters.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import header  # noqa: E402


def row_mask(text: str) -> np.ndarray:
    """True for each character of `text` that belongs to a poem row (a line with ，or 。, and its newline)."""
    mask = np.zeros(len(text), bool)
    start = 0
    for line in text.split("\n"):
        end = start + len(line)
        if "，" in line or "。" in line:
            mask[start:end + 1] = True
        start = end + 1
    return mask[: len(text)]


def bigram_losses(train: str, val: str) -> tuple[np.ndarray, float]:
    """Per-character nats of the best interpolated bigram on `val[1:]`, and its weight l."""
    chars = sorted(set(train) | set(val))
    index = {c: i for i, c in enumerate(chars)}
    t = np.array([index[c] for c in train])
    v = np.array([index[c] for c in val])
    size = len(chars)
    unigram = (np.bincount(t, minlength=size) + 1.0) / (len(t) + size)
    pair_keys = t[:-1] * size + t[1:]
    keys, counts = np.unique(pair_keys, return_counts=True)
    context = np.bincount(t[:-1], minlength=size).astype(float)
    wanted = v[:-1] * size + v[1:]
    found = np.searchsorted(keys, wanted)
    found = np.minimum(found, len(keys) - 1)
    pair = np.where(keys[found] == wanted, counts[found], 0).astype(float)
    conditional = np.divide(pair, context[v[:-1]], out=np.zeros_like(pair), where=context[v[:-1]] > 0)
    best = None
    for weight in np.linspace(0.05, 0.95, 19):
        losses = -np.log(weight * conditional + (1 - weight) * unigram[v[1:]])
        if best is None or losses.mean() < best[0].mean():
            best = (losses, float(weight))
    return best


def model_losses(checkpoint: str, val: str) -> np.ndarray:
    from charbot.generate.loading import load_engine

    engine, _ = load_engine(checkpoint, "tf")
    score = engine.score(val)
    if score.skipped:
        raise SystemExit(f"the model does not know {score.skipped!r}: is this the corpus it was trained on?")
    return score.losses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="tang")
    parser.add_argument("--chars", type=int, default=0, help="score only the first N validation characters")
    args = parser.parse_args()
    print(header())
    from charbot.corpus import load_corpus
    from charbot.corpus.streams import split

    corpus = load_corpus("tang")
    train, val = split(corpus.text, 0.1)
    val = val[: args.chars] if args.chars else val
    rows = row_mask(val)[1:]  # the first character is never scored
    bigram, weight = bigram_losses(train, val)
    print(f"corpus tang {corpus.sha256[:16]}: {len(train):,} training, {len(val):,} validation characters scored")
    print("| model | all characters (nats/char) | rows alone (nats/char) |\n|---|---|---|")
    print(f"| interpolated bigram (l = {weight:.2f}, fitted on the training part) | {bigram.mean():.4f} | "
          f"{bigram[rows].mean():.4f} |")
    if args.checkpoint != "none":
        losses = model_losses(args.checkpoint, val)
        print(f"| {args.checkpoint} | {losses.mean():.4f} | {losses[rows].mean():.4f} |")
        print(f"model / bigram: {losses.mean() / bigram.mean():.3f} (all), {losses[rows].mean() / bigram[rows].mean():.3f} (rows)")


if __name__ == "__main__":
    main()
