"""charbot: a character-level LSTM text generator for the terminal, and a small Python API.

    import charbot
    model = charbot.load()
    print(model.generate("ROMEO:", temperature=0.5, max_chars=200))

The API (`load`, `train`, `Model`, `Conversation`) is in `charbot.api`. This package file stays
import-light on purpose: `charbot --help` and the chat prompt must not wait for TensorFlow, so nothing
here imports it; loading a model does.
"""

import os as _os

from charbot.version import __version__

# TensorFlow's C++ start-up notes (CUDA probing, CPU features) are noise in a terminal program.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from charbot.api import Conversation, Model, load, train  # noqa: E402

__all__ = ["Conversation", "Model", "load", "train", "__version__"]
