"""A checkpoint described for people: shape, parameters, corpus, vocabulary and validation loss.

Shared by `charbot info` and the chat's `/info`. It reads the checkpoint's JSON and weight shapes;
it does not build a model, so it needs no TensorFlow.
"""

from __future__ import annotations

import math
from pathlib import Path

from rich.table import Table

from charbot import checkpoint


def describe_checkpoint(path: Path) -> Table:
    data = checkpoint.load(path)
    return describe(data)


def describe(data: checkpoint.CheckpointData) -> Table:
    model, train, corpus = data.model_config, data.train_config, data.config.get("corpus", {})
    metrics = data.metrics
    parameters = sum(int(math.prod(w.shape)) for w in data.weights.values())
    dtypes = sorted({str(w.dtype) for w in data.weights.values()})
    table = Table(title=f"checkpoint {data.path}", show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value", overflow="fold")
    table.add_row("model", f"Embedding({model.vocab_size}, {model.embedding_dim}) -> "
                           f"{model.num_layers} x LSTM({model.rnn_units}) -> Dense({model.vocab_size})")
    table.add_row("parameters", f"{parameters:,} (stored as {', '.join(dtypes)})")
    for name, weight in data.weights.items():
        table.add_row("", f"{name} {tuple(weight.shape)}")
    table.add_row("vocabulary", f"{len(data.vocab)} characters: {data.vocab.chars!r}")
    table.add_row("corpus", f"{corpus.get('name', '?')} ({corpus.get('characters', 0):,} characters, "
                            f"sha256 {corpus.get('sha256', '?')})")
    table.add_row("corpus source", f"{corpus.get('source', '?')}; licence: {corpus.get('licence', '?')}")
    table.add_row("training", f"batch {train.batch_size} x {train.seq_len}, lr {train.learning_rate}, "
                              f"dropout {model.dropout}, {len(metrics.get('epochs', []))} epochs, "
                              f"{metrics.get('wall_seconds', 0):,.0f} s, stopped: {metrics.get('stopped', '?')}")
    best, shipped = metrics.get("best"), metrics.get("shipped")
    if shipped:
        table.add_row("validation loss", f"{shipped['val_loss']:.4f} nats/char = {shipped['val_bpc']:.4f} bits/char "
                                         f"on the last {train.val_fraction:.0%} of the corpus "
                                         f"({shipped['val_chars']:,} characters), weights as {shipped['stored_as']}")
    elif best:
        table.add_row("validation loss", f"{best['val_loss']:.4f} nats/char = {best['val_bpc']:.4f} bits/char "
                                         f"(epoch {best['epoch']}, last {train.val_fraction:.0%} of the corpus)")
    else:
        table.add_row("validation loss", "not recorded")
    machine = metrics.get("machine")
    if machine:
        table.add_row("trained on", f"{machine.get('processor')} x{machine.get('cpu_count')}, "
                                    f"TensorFlow {machine.get('tensorflow')}, GPUs: {machine.get('gpus') or 'none'}")
    table.add_row("charbot", str(data.config.get("charbot_version", "?")))
    return table
