"""The training wing: the loop, the compiled steps, distribution, precision, reporters and TensorBoard.

It may import the model, the corpus and `charbot.system`; never generation or the chat (an
import-linter contract in pyproject.toml checks this). `charbot.train` is the API function; the
loop is `charbot.training.loop.train`."""
