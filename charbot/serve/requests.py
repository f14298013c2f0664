"""OpenAI request bodies made into what charbot runs: the text to continue and one checked SampleConfig.

`max_tokens` and `max_completion_tokens` count characters (charbot's tokens are characters); charbot's own
`top_k`, `min_p`, `form`, `acrostic` and `rhyme` are taken too. Unknown fields are ignored, as
OpenAI-compatible servers do; `n` above 1 is refused. Chat messages become text in the
model's own layout (`messages_text`). Every refusal is a `BadRequest` naming the field; this module does
no I/O and imports no TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass

from charbot.config import SampleConfig
from charbot.errors import CharbotError
from charbot.generate.settings import checked

MAX_TOKENS_CEILING = 4_000  # characters one request may ask for
DEFAULT_MAX_TOKENS = 256


class BadRequest(Exception):
    """A request the client must change; `param` names the field (OpenAI's error shape)."""

    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class Job:
    model: str
    text: str  # what the model continues
    settings: SampleConfig
    stream: bool
    include_usage: bool
    chat: bool  # /v1/chat/completions
    prefix: str = ""  # the poem so far, where a form is asked for: the prompt, or nothing in a chat


def _number(body: dict, field: str, kind, low: float, high: float, default):
    value = body.get(field, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not float(value).is_integer()):
        raise BadRequest(f"{field} must be a {'whole number' if kind is int else 'number'}, not {value!r}", field)
    if not low <= value <= high:
        raise BadRequest(f"{field} must be from {low:g} to {high:g}, not {value!r}", field)
    return kind(value)


def _stop(body: dict) -> tuple[str, ...]:
    stop = body.get("stop")
    if stop is None:
        return ()
    stops = [stop] if isinstance(stop, str) else stop
    if not isinstance(stops, list) or len(stops) > 4 or not all(isinstance(s, str) and s for s in stops):
        raise BadRequest("stop must be a non-empty string or a list of up to 4 of them", "stop")
    return tuple(stops)


def _text(body: dict, field: str) -> str | None:
    value = body.get(field)
    if value is not None and not isinstance(value, str):
        raise BadRequest(f"{field} must be a string, not {value!r}", field)
    return value


def settings_from(body: dict, chat: bool = False) -> SampleConfig:
    """The sampling settings of a request, checked by the same rules as the flags and the chat. A chat
    reply is one speech: it stops at a blank line unless the request gives its own stop."""
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    field = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
    given = {
        "max_chars": _number({field: limit}, field, int, 1, MAX_TOKENS_CEILING, DEFAULT_MAX_TOKENS),
        "temperature": _number(body, "temperature", float, 0.0, 2.0, None),
        "top_p": _number(body, "top_p", float, 0.0, 1.0, None),
        "top_k": _number(body, "top_k", int, 0, 100_000, None),
        "min_p": _number(body, "min_p", float, 0.0, 0.999, None),
        "seed": _number(body, "seed", int, 0, 2**31 - 2, None),
        "stop": _stop(body) or (("\n\n",) if chat else ()),
        "form": _text(body, "form"), "acrostic": _text(body, "acrostic"), "rhyme": body.get("rhyme"),
    }
    if given["top_p"] == 0.0:
        raise BadRequest("top_p must be above 0", "top_p")
    try:
        return checked(**{name: value for name, value in given.items() if value is not None})
    except CharbotError as error:
        raise BadRequest(str(error)) from None


def messages_text(messages) -> str:
    """Chat messages as the model's own layout: each message a speech, `NAME:\\n<content>\\n\\n`, the speaker
    being the message's `name`, else its role in capitals (USER, ASSISTANT, SYSTEM); the reply is primed
    as the assistant's speech (`ASSISTANT:\\n`, or the name of the last assistant message)."""
    if not isinstance(messages, list) or not messages:
        raise BadRequest("messages must be a non-empty list", "messages")
    text, answerer = "", "ASSISTANT"
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("content"), str):
            raise BadRequest(f"messages[{index}] must have a string content", "messages")
        speaker = str(message.get("name") or message.get("role") or "user").upper()
        if message.get("role") == "assistant":
            answerer = speaker
        text += f"{speaker}:\n{message['content']}\n\n"
    return text + f"{answerer}:\n"


def parse(body, chat: bool) -> Job:
    """A request body (parsed JSON) as a `Job`; `BadRequest` for anything the client must change."""
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    if body.get("n", 1) != 1:
        raise BadRequest("n must be 1: charbot makes one completion a request", "n")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("model must name one of GET /v1/models", "model")
    if chat:
        text = messages_text(body.get("messages"))
    else:
        prompt = body.get("prompt", "")
        if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
            prompt = prompt[0]
        if not isinstance(prompt, str):
            raise BadRequest("prompt must be a string", "prompt")
        text = prompt
    options = body.get("stream_options") or {}
    return Job(model, text, settings_from(body, chat), bool(body.get("stream", False)),
               bool(isinstance(options, dict) and options.get("include_usage")), chat, "" if chat else text)
