"""Import TensorFlow late and quietly.

TensorFlow 2.21 prints C++ start-up notes (CUDA probing, oneDNN) straight to file descriptor 2 while
it imports and first touches a device, and TF_CPP_MIN_LOG_LEVEL no longer silences all of them.
They are noise in a terminal program, so stderr is pointed at /dev/null for exactly that span; an
import that fails restores stderr first, so real errors are still shown. Set CHARBOT_TF_LOGS=1 to
see everything.

On AVX2 CPUs where TensorFlow leaves its oneDNN kernels off, it turns them on (`hardware.onednn_pays`;
TF_ENABLE_ONEDNN_OPTS, when set, decides instead).
"""

from __future__ import annotations

import os
import sys
import threading

from charbot.system.hardware import cpu_flags, onednn_pays
from charbot.system.quiet import quiet

_lock = threading.Lock()
_loaded = False
_probability = False


def load_tensorflow() -> None:
    """Import tensorflow and keras once, with the start-up noise hidden. TensorFlow Probability is
    `load_probability`: only sampling needs it, and it adds 2.5 s to every start (Zen 3)."""
    global _loaded
    with _lock:
        if _loaded:
            return
        from charbot.system import xlacache

        xlacache.enable()  # before TensorFlow reads TF_XLA_FLAGS
        if "TF_ENABLE_ONEDNN_OPTS" not in os.environ and "tensorflow" not in sys.modules and onednn_pays(cpu_flags()):
            os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1"  # read once, at import
        if os.environ.get("CHARBOT_TF_LOGS") != "1":
            # C++ log lines from later work (XLA's notes on loading cached code, for one) would land in
            # the middle of the chat; failures still arrive as Python exceptions.
            os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        with quiet():
            _import_all()
        _loaded = True


def load_probability() -> None:
    """`load_tensorflow`, then tensorflow_probability (and the tf_keras it imports), as quietly."""
    global _probability
    load_tensorflow()
    with _lock:
        if not _probability:
            with quiet():
                import tensorflow_probability  # noqa: F401
            _probability = True


def _import_all() -> None:
    import keras  # noqa: F401
    import tensorflow as tf

    tf.config.list_physical_devices()  # device discovery prints too; do it now, while quiet
    # charbot compiles one prime per seed-length bucket on purpose; TensorFlow's retracing advice
    # would only confuse a chat user.
    tf.get_logger().setLevel("ERROR")
