"""A checkpoint described for people: shape, parameters, corpus, vocabulary and validation loss.

Shared by `charbot info` and the chat's `/info`. It reads the checkpoint's JSON and weight shapes;
it does not build a model, so it needs no TensorFlow.
"""

from __future__ import annotations

import math

from rich.table import Table

from charbot.model import checkpoint, export


def describe(data: checkpoint.CheckpointData) -> Table:
    """The rows of `rows` as a rich table (for a terminal)."""
    table = Table(title=f"checkpoint {data.path}", show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value", overflow="fold")
    for what, value in rows(data):
        table.add_row(what, value)
    return table


def plain(data: checkpoint.CheckpointData) -> str:
    """The rows as `what: value` lines, whole (for a pipe: no wrapping inside a hash or a path)."""
    lines = [f"checkpoint: {data.path}"]
    for what, value in rows(data):
        lines.append(f"{what}: {value}" if what else f"  {value}")
    return "\n".join(lines) + "\n"


def _parameters(data) -> int:
    return sum(int(math.prod(w.shape)) for w in data.weights.values())


def as_json(data: checkpoint.CheckpointData) -> dict:
    parameters = _parameters(data)
    return {"path": str(data.path), "model": data.model_config.to_dict(), "training": data.train_config.to_dict(),
            "corpus": data.config.get("corpus", {}), "parameters": parameters,
            "weights": {name: list(w.shape) for name, w in data.weights.items()},
            "vocabulary": data.vocab.chars, "metrics": data.metrics,
            "charbot_version": data.config.get("charbot_version"), "litert": data.manifest.get(export.FILE)}


def rows(data: checkpoint.CheckpointData) -> list[tuple[str, str]]:
    """(what, value) pairs describing a checkpoint; one home for what `info` and `/info` say."""
    model, train, corpus = data.model_config, data.train_config, data.config.get("corpus", {})
    metrics = data.metrics
    parameters = _parameters(data)
    dtypes = sorted({str(w.dtype) for w in data.weights.values()})
    out = [("model", f"Embedding({model.vocab_size}, {model.embedding_dim}) -> "
                     f"{model.num_layers} x LSTM({model.rnn_units}) -> Dense({model.vocab_size})"),
           ("parameters", f"{parameters:,} (stored as {', '.join(dtypes)})")]
    out += [("", f"{name} {tuple(weight.shape)}") for name, weight in data.weights.items()]
    out.append(("vocabulary", f"{len(data.vocab)} characters: {data.vocab.chars!r}"))
    out.append(("corpus", f"{corpus.get('name', '?')} ({corpus.get('characters', 0):,} characters, "
                          f"sha256 {corpus.get('sha256', '?')})"))
    out += [("", f"{f['name']} ({f['bytes']:,} bytes, sha256 {f['sha256']})") for f in corpus.get("files", [])]
    out.append(("corpus source", f"{corpus.get('source', '?')}; licence: {corpus.get('licence', '?')}"))
    out.append(("training", f"batch {train.batch_size} x {train.seq_len}, lr {train.learning_rate}, "
                            f"{_regularisers(model, train)}, {len(metrics.get('epochs', []))} of {train.epochs} epochs, "
                            f"{metrics.get('wall_seconds', 0):,.0f} s of training, {_stop_story(metrics)}"))
    if metrics.get("precision"):
        out.append(("precision", f"{metrics['precision']} ({metrics.get('precision_reason', '')}); "
                                 f"{metrics.get('placement', 'one device')}"))
    out.append(("validation loss", _validation(data)))
    machine = metrics.get("machine")
    if machine:
        out.append(("trained on", f"{machine.get('cpu') or machine.get('processor')} x{machine.get('cpu_count')}, "
                                  f"TensorFlow {machine.get('tensorflow')}, GPUs: {machine.get('gpus') or 'none'}"))
    lite = data.manifest.get(export.FILE)
    out.append(("LiteRT", f"model.tflite, {lite.get('quantize', '?')} weights, {lite['bytes'] / 1e6:.1f} MB, converted by "
                          f"TensorFlow {lite.get('tensorflow', '?')}" if lite else
                          "no model.tflite yet: made on first use, or by 'charbot export'"))
    out.append(("charbot", str(data.config.get("charbot_version", "?"))))
    return out


def _regularisers(model, train) -> str:
    """"dropout 0.1" and whichever of the other regularisers the run used."""
    parts = [f"dropout {model.dropout}" + (" (locked)" if model.locked_dropout else "")]
    for name, value in (("input dropout", model.input_dropout), ("weight drop", model.weight_drop),
                        ("weight decay", train.weight_decay), ("EMA", train.ema)):
        if value:
            parts.append(f"{name} {value:g}")
    return ", ".join(parts + (["layer normalisation in the cell"] if model.layer_norm else []))


def _stop_story(metrics: dict) -> str:
    """'stopped: finished', with every interruption the run was resumed from and the shipper's note."""
    story = f"stopped: {metrics.get('stopped', '?')}"
    if metrics.get("stop_reason"):
        story += f", {metrics['stop_reason']}"
    stops = metrics.get("interruptions") or []
    if metrics.get("stopped") == "interrupted":
        stops = stops[:-1]  # the last stop is where the run stands now, not one it was resumed from
    if stops:
        where = ", ".join(f"epoch {stop['epoch']} window {stop['window']}" for stop in stops)
        story += f" (interrupted at {where}; resumed with --resume)"
    note = (metrics.get("shipped") or {}).get("note")
    return f"{story}; {note}" if note else story


def _validation(data) -> str:
    best, shipped, train = data.metrics.get("best"), data.metrics.get("shipped"), data.train_config
    if shipped:
        return (f"{shipped['val_loss']:.4f} nats/char = {shipped['val_bpc']:.4f} bits/char on the last "
                f"{train.val_fraction:.0%} of the corpus ({shipped['val_chars']:,} characters), weights as "
                f"{shipped['stored_as']}")
    if best:
        return (f"{best['val_loss']:.4f} nats/char = {best['val_bpc']:.4f} bits/char (epoch {best['epoch']}, "
                f"last {train.val_fraction:.0%} of the corpus)")
    return "not recorded"
