"""The one exception type whose message is shown to the user as a single line.

Anything a user can get wrong (a flag, a file, a checkpoint, a slash-command argument) raises
`CharbotError` with a message that names what was wrong and what to do. The command line and the
chat print that message; they never show a traceback for it.
"""


class CharbotError(Exception):
    """A problem the user can fix; `str(error)` is the whole message."""


# The light install (`pip install charbot`) leaves out the training stack; what needs it says so in one line.
TRAINING_STACK = ("tensorflow", "keras", "tensorflow_probability", "tf_keras")
NEEDS_TENSORFLOW = ("{what} needs TensorFlow, which the light install leaves out: pip install 'charbot[train]' "
                    "(from a checkout: pip install -e '.[train]')")
