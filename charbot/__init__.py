"""charbot: a character-level LSTM text generator for the terminal.

This package file stays import-light on purpose: `charbot --help` and the chat prompt must not wait
for TensorFlow, so nothing here imports it.
"""

import os as _os

__version__ = "0.1.0"

# TensorFlow's C++ start-up notes (CUDA probing, CPU features) are noise in a terminal program.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
