"""The training display: a per-epoch bar, a line and a sample per epoch, a summary table at the end.

A `reporting.Reporter`: it receives the events of `loop.train` and draws them with rich. Training does
not depend on it: tests and benchmarks train with no reporter, or one of their own.
"""

from __future__ import annotations

import math

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from charbot.training.reporting import Reporter

SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float]) -> str:
    if not values:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    return "".join(SPARK[min(len(SPARK) - 1, int((v - low) / span * (len(SPARK) - 1) + 0.5))] for v in values)


class RichReporter(Reporter):
    def __init__(self, console: Console | None = None):
        self.console = console or Console(soft_wrap=True)  # long lines stay whole in logs
        self.progress: Progress | None = None
        self.task = None
        self.epochs = 0
        self.reading = None  # (what, its bar, its task) while the corpus is read

    def on_start(self, model_config, train_config, windows, info, corpus, epoch, window):
        self.epochs = train_config.epochs
        self.windows = windows
        where = f" (resuming at epoch {epoch + 1}, window {window})" if epoch or window else ""
        self.console.print(
            f"[bold]training[/] on {escape(corpus['name'])}: {info['train_chars']:,} training and "
            f"{info['val_chars']:,} validation characters; {info['parameters']:,} parameters "
            f"({model_config.num_layers}x{model_config.rnn_units} LSTM), batch {train_config.batch_size} x "
            f"{train_config.seq_len}{where}",
            highlight=False,
        )
        compiled = {"step": "the training step", "loops": "the LSTM's loops through time"}.get(info.get("xla", "off"))
        step = f"; {compiled} XLA-compiled (faster on this CPU)" if compiled else ""
        self.console.print(f"precision {info['precision']}: {escape(info['precision_reason'])}; "
                           f"{escape(info['placement'])}{step}", highlight=False)

    def on_reading(self, what, done, total):
        """The corpus being scanned or encoded into its cache: a bar for corpora of 50 MB or more."""
        if total < 50_000_000:
            return
        if self.reading is None or self.reading[0] != what:
            self._stop_reading()
            bar = Progress(TextColumn(f"{what} the corpus"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                           console=self.console, transient=True)
            bar.start()
            self.reading = (what, bar, bar.add_task(what, total=total))
        self.reading[1].update(self.reading[2], completed=done)
        if done >= total:
            self._stop_reading()

    def _stop_reading(self):
        if self.reading is not None:
            self.reading[1].stop()
            self.reading = None

    def on_note(self, text):
        self.console.print(f"note: {escape(text)}", highlight=False, style="yellow")

    def on_epoch_start(self, epoch, window):
        self.progress = Progress(
            TextColumn(f"epoch {epoch}/{self.epochs}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
            TextColumn("loss {task.fields[loss]:.3f}"), TextColumn("{task.fields[speed]:,.0f} chars/s"),
            TimeElapsedColumn(), TimeRemainingColumn(), console=self.console, transient=True,
        )
        self.progress.start()
        self.task = self.progress.add_task("train", total=self.windows, completed=window, loss=math.nan, speed=0.0)

    def on_window(self, window, loss, chars_per_second, step):
        self.progress.update(self.task, completed=window, loss=loss, speed=chars_per_second)

    def _stop_bar(self):
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def on_interrupted(self, path, epoch, window):
        self._stop_bar()
        self.console.print(f"stopped at epoch {epoch}, window {window}; saved {escape(str(path))} "
                           f"(continue with --resume)", highlight=False)

    def on_epoch_end(self, record, improved, step):
        self._stop_bar()
        mark = " [green]best[/]" if improved else ""
        train_loss = record["train_loss"]
        self.console.print(
            f"epoch {record['epoch']}: train {train_loss:.4f}  val {record['val_loss']:.4f} nats/char "
            f"({record['val_bpc']:.4f} bits/char)  {record['chars_per_second']:,.0f} chars/s{mark}",
            highlight=False,
        )
        if record.get("sample"):
            self.console.print(record["sample"], markup=False, highlight=False, style="dim")

    def on_end(self, result, out):
        self._stop_bar()
        if not result.history:
            return
        table = Table(title=f"training ended after {result.seconds:,.0f} s: {escape(result.reason)}")
        for column in ("epoch", "train loss", "val loss", "val bits/char", "chars/s"):
            table.add_column(column, justify="right")
        for r in result.history:
            table.add_row(str(r["epoch"]), f"{r['train_loss']:.4f}", f"{r['val_loss']:.4f}",
                          f"{r['val_bpc']:.4f}", f"{r['chars_per_second']:,.0f}")
        self.console.print(table)
        self.console.print(f"val loss curve {sparkline([r['val_loss'] for r in result.history])}  "
                           f"best {result.best_val_loss:.4f} at epoch {result.best_epoch}; "
                           f"best model in {escape(str(out / 'best'))}", highlight=False)
