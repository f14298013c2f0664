"""The training reporter seam: one base class whose events do nothing, and one that sends them to several.

A reporter derives from `Reporter` and overrides the events it wants, as a Keras `Callback` does. The
terminal display (`progress.RichReporter`) and TensorBoard (`tensorboard.TensorBoardReporter`) are two
reporters among others. This module draws nothing and writes nothing.
"""

from __future__ import annotations


class Reporter:
    """The events of a run, each doing nothing here."""

    def on_start(self, model_config, train_config, windows, info, corpus, epoch, window) -> None:
        pass

    def on_reading(self, what, done, total) -> None:  # the corpus being read or encoded
        pass

    def on_note(self, text) -> None:
        pass

    def on_epoch_start(self, epoch, window) -> None:
        pass

    def on_window(self, window, loss, chars_per_second, step) -> None:  # step: windows since the start
        pass

    def on_epoch_end(self, record, improved, step) -> None:
        pass

    def on_interrupted(self, path, epoch, window) -> None:
        pass

    def on_end(self, result, out) -> None:
        pass


class Reporters(Reporter):
    """Each event sent to every reporter, in order (the methods are made below, one for each event)."""

    def __init__(self, *reporters: Reporter | None):
        self.reporters = [reporter for reporter in reporters if reporter is not None]


def _sent_to_each(event: str):
    def send(self: Reporters, *args) -> None:
        for reporter in self.reporters:
            getattr(reporter, event)(*args)

    send.__name__ = event
    return send


for _event in [name for name in vars(Reporter) if name.startswith("on_")]:
    setattr(Reporters, _event, _sent_to_each(_event))
