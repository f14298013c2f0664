"""The model wing: the network, its checkpoint format, its vocabulary, scoring and the NumPy reference.

It may import `charbot.system`, `charbot.corpus`, `config` and `errors`; never training, generation or
the chat. Importing this package loads nothing: TensorFlow comes with `network` and `lstm` only."""
