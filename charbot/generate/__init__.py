"""The generation wing: engines that prime and stream, sampling, sampling settings and the renderer.

It may import the model and `charbot.system`; never training or the chat. `state` holds the values
every engine shares and imports no TensorFlow; `engine` is the TensorFlow engine."""
