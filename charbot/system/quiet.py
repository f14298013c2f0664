"""Silence what native libraries print on file descriptor 2 (TensorFlow's and LiteRT's start-up notes).

Python exceptions still arrive; set CHARBOT_TF_LOGS=1 to see everything. This module imports nothing heavy.
"""

from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def quiet():
    """Point file descriptor 2 at /dev/null for the span of the block (unless CHARBOT_TF_LOGS=1)."""
    if os.environ.get("CHARBOT_TF_LOGS") == "1":
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
