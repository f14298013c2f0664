"""`charbot train`: the flags made into settings, a corpus read, a run trained with the terminal display.

The loop is `loop.train`; this module only wires the command line to it. It never imports the chat or
generation: the sample shown after each epoch is made by a function the CLI passes in.
"""

from __future__ import annotations

import os
from pathlib import Path

from charbot.config import ModelConfig, TrainConfig, flagged


def run_train(args, sample=None) -> int:
    """Args:
        sample: sample(model, vocab, chars) -> the text shown after each epoch (the CLI passes one)."""
    from charbot.corpus import load_corpus
    from charbot.training.distribute import place
    from charbot.training.progress import RichReporter
    from charbot.training.loop import run_batch_size, train

    args.corpus = os.pathsep.join(args.corpus)  # one string, as TrainConfig.corpus keeps it
    reporter = RichReporter()
    corpus = load_corpus(args.corpus, progress=reporter.on_reading)  # first: a bad corpus needs no TensorFlow
    out = Path(args.out or Path("runs") / Path(corpus.name).stem)
    _refuse_early(args, corpus, out, reporter)
    # Before any TensorFlow op: multi-worker needs it, and logical CPU devices are made then.
    placement = place(args.strategy, args.cpu_devices, run_batch_size(out, args.resume, args.batch_size))
    model_config = ModelConfig(**{f.name: getattr(args, f.name) for f in flagged(ModelConfig)})
    train_config = TrainConfig(corpus=args.corpus, **{f.name: getattr(args, f.name) for f in flagged(TrainConfig)})
    result = train(corpus, model_config, train_config, out, resume=args.resume, placement=placement,
                   reporter=reporter if placement.is_chief else None,  # one display: the writer's
                   sample=sample)
    if placement.is_chief:
        from charbot.model.export import export_best

        if path := export_best(out):
            reporter.on_note(f"wrote {path}: chat and generate run it on LiteRT, without TensorFlow")
    return 0 if result.history or result.stopped == "interrupted" else 1


def _refuse_early(args, corpus, out: Path, reporter) -> None:
    """What `train` would refuse, refused before TensorFlow loads (about 6 s sooner): a folder that
    holds a run or another trainer, a corpus too small for the windows. `train` checks again."""
    from charbot.corpus.streams import check_fits, split
    from charbot.system.runlock import run_lock
    from charbot.training.position import check_folder

    if args.strategy != "multi-worker":  # where only the chief writes, train() checks, knowing which one it is
        run_lock(out, reporter.on_note).check()
        check_folder(out, args.resume)
    if not args.resume:  # a resumed run's settings are its checkpoint's
        check_fits(len(split(range(corpus.characters), args.val_fraction)[0]), args.batch_size, args.seq_len)
