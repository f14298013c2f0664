"""The split and the stream layout, on arange ids: every value says where it came from."""

import numpy as np
import pytest

from charbot.errors import CharbotError
from charbot.corpus.streams import lay_out, split, validation_layout


def test_split_keeps_the_tail_for_validation():
    ids = np.arange(100)
    train, val = split(ids, 0.1)
    assert list(train) == list(range(90)) and list(val) == list(range(90, 100))


def test_layout_continues_each_stream_from_window_to_window():
    ids = np.arange(1000, dtype=np.int32)
    layout = lay_out(ids, batch_size=4, seq_len=10)
    assert layout.num_windows == (999 // 4) // 10
    for k in range(layout.num_windows - 1):
        x, y = layout.window(k)
        x_next, _ = layout.window(k + 1)
        assert (x_next[:, 0] == x[:, -1] + 1).all()  # row i of window k+1 starts where row i of k ended
        assert (y == x + 1).all()  # targets are the next characters
    # The streams are disjoint, contiguous slices of the text, in order.
    assert (layout.inputs[1:, 0] == layout.inputs[:-1, -1] + 1).all()


def test_layout_refuses_a_split_too_small_and_names_the_settings():
    with pytest.raises(CharbotError, match="--batch-size 64 x --seq-len 128.*lower --batch-size or --seq-len"):
        lay_out(np.arange(5000), batch_size=64, seq_len=128)


def test_validation_reads_streams_spread_through_the_whole_split_up_to_max_chars():
    val = np.arange(100_001, dtype=np.uint32)
    layout = validation_layout(val, batch_size=4, seq_len=10, max_chars=400)
    stream_len = 100_000 // 4
    assert layout.inputs.shape == (4, 100) and layout.characters == 400
    assert list(layout.inputs[:, 0]) == [0, stream_len, 2 * stream_len, 3 * stream_len]  # spread, not the head
    assert (layout.targets == layout.inputs + 1).all()
    assert len(list(layout.windows())) == 10


def test_validation_is_whole_when_it_is_short_enough_or_max_chars_is_zero():
    val = np.arange(5_001)
    assert validation_layout(val, 4, 10, max_chars=0).characters == 5_000
    assert validation_layout(val, 4, 10, max_chars=5_000).characters == 5_000
    # Whole windows: never fewer than one window per stream.
    assert validation_layout(val, 4, 10, max_chars=7).characters == 40


def test_windows_of_narrow_ids_come_out_as_int32_with_a_last_partial_window():
    ids = (np.arange(95) % 200).astype(np.uint8)
    layout = lay_out(ids, batch_size=2, seq_len=10)  # streams of 47
    windows = list(layout.windows())
    assert len(windows) == 5 and windows[-1][0].shape == (2, 7)
    assert all(x.dtype == np.int32 and y.dtype == np.int32 for x, y in windows)
    assert np.concatenate([x for x, _ in windows], axis=1).tolist() == layout.inputs.tolist()
