"""The sample shown after each training epoch, made with the TensorFlow engine.

Training passes it in (`loop.train(sample=...)`), so the training wing never imports generation; the
engine, and TensorFlow, load on the first call, so a bad flag or corpus is answered before that.
"""

from __future__ import annotations

from charbot.config import SampleConfig


class EpochSampler:
    """The short sample after each epoch, from a float32 copy of the model that is being trained.

    A copy, because the trained model may compute in mixed precision or live on several devices; one
    copy and one engine for the whole run, so their compiled functions are reused every epoch.
    """

    def __init__(self):
        self.engine = None

    def __call__(self, model, vocab, chars: int) -> str:
        from charbot.generate.engine import Engine
        from charbot.model.network import build_model

        if self.engine is None:
            self.engine = Engine(build_model(model.config), vocab)
        self.engine.model.set_weights([w.numpy() for w in model.weights])
        state = self.engine.fresh_state()
        settings = SampleConfig(max_chars=chars, stop=())
        return "".join(t.text for t in self.engine.stream(state, settings, 1))
