"""The split and the stream layout: the held-out tail, and a split laid out as parallel streams.

Row i of window k+1 starts exactly where row i of window k ended, so the LSTM state carried from one
window to the next is the state of the text that really came before (char-rnn's layout). The ids may
be a memory map of any unsigned integer type: the layout is a view of it, and only the window being
read is copied, as int32. This module lays out; it does not read files or train.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from charbot.errors import CharbotError

DEFAULT_VAL_CHARS = 1_000_000  # --val-chars: validation stays a small share of an epoch on any corpus


def split(ids, val_fraction: float):
    """Training head and held-out validation tail."""
    cut = int(len(ids) * (1.0 - val_fraction))  # as nanoGPT: tiny-shakespeare's tail is 111,540 characters
    return ids[:cut], ids[cut:]


@dataclass(frozen=True)
class StreamLayout:
    """A split laid out as `batch_size` contiguous streams, cut into windows of `seq_len`."""

    inputs: np.ndarray  # [batch_size, stream_len] ids (a view: any integer type)
    targets: np.ndarray  # [batch_size, stream_len], inputs shifted by one character
    seq_len: int

    @property
    def num_windows(self) -> int:
        return self.inputs.shape[1] // self.seq_len

    @property
    def characters(self) -> int:
        return self.inputs.size

    def window(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Window k as int32 [batch_size, seq_len] inputs and targets (the last may be shorter)."""
        cols = slice(k * self.seq_len, (k + 1) * self.seq_len)
        return self.inputs[:, cols].astype(np.int32), self.targets[:, cols].astype(np.int32)

    def windows(self):
        """Every window of the streams in order, a last partial one included."""
        for start in range(0, self.inputs.shape[1], self.seq_len):
            yield self.window(start // self.seq_len)


def check_fits(length: int, batch_size: int, seq_len: int, what: str = "training") -> None:
    """A clear error when a split of `length` characters is too small for the settings."""
    needed = batch_size * seq_len + 1
    if length < needed:
        raise CharbotError(
            f"the {what} split has {length} characters, too few for --batch-size {batch_size} x "
            f"--seq-len {seq_len} (needs {needed}): lower --batch-size or --seq-len, or use a larger corpus")


def lay_out(ids: np.ndarray, batch_size: int, seq_len: int, what: str = "training") -> StreamLayout:
    """Lay `ids` out as streams; raise a clear error when the split is too small for the settings."""
    check_fits(len(ids), batch_size, seq_len, what)
    stream_len = (len(ids) - 1) // batch_size
    used = batch_size * stream_len
    ids = np.asarray(ids)
    return StreamLayout(
        inputs=ids[:used].reshape(batch_size, stream_len),
        targets=ids[1 : used + 1].reshape(batch_size, stream_len),
        seq_len=seq_len,
    )


def validation_layout(val_ids: np.ndarray, batch_size: int, seq_len: int,
                      max_chars: int = DEFAULT_VAL_CHARS) -> StreamLayout:
    """Validation streams: as many as fit (at most `batch_size`), each at least one window long.

    With `max_chars` (0: no limit), a longer split keeps the streams spread through all of it and reads
    only the head of each, whole windows, about `max_chars` characters in all."""
    streams = min(batch_size, (len(val_ids) - 1) // seq_len)
    if streams < 1:
        raise CharbotError(
            f"the validation split has {len(val_ids)} characters, fewer than one --seq-len window "
            f"({seq_len}): raise --val-fraction, lower --seq-len, or use a larger corpus"
        )
    layout = lay_out(val_ids, streams, seq_len, what="validation")
    if max_chars and layout.characters > max_chars:
        keep = max(1, max_chars // (streams * seq_len)) * seq_len
        layout = StreamLayout(layout.inputs[:, :keep], layout.targets[:, :keep], seq_len)
    return layout
