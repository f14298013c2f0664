"""`charbot serve`: an OpenAI-compatible HTTP API over the scheduler, on Starlette and uvicorn.

Starlette rather than FastAPI: the API is six routes whose bodies are checked by `serve.requests` (the
same rules as the flags), so FastAPI's pydantic layer would be a second set of rules. Routes:
`GET /v1/models`, `POST /v1/completions`, `POST /v1/chat/completions` (with and without `stream`),
`GET /health` (503 while loading, 200 when ready) and `GET /metrics` (Prometheus text). Streams are
server-sent events sent in bursts of about 30 ms; a client that goes away leaves the batch within one step.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from charbot.errors import CharbotError
from charbot.generate.forms import constraint_for
from charbot.serve.requests import BadRequest, Job, parse
from charbot.serve.scheduler import Scheduler

MAX_BODY = 1 << 20  # bytes
BURST_SECONDS = 0.03


def error(status: int, message: str, param: str | None = None, kind: str = "invalid_request_error",
          headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "param": param, "code": None}}, status,
                        headers=headers)


class Server:
    """The models (loaded on a thread so /health answers at once), the scheduler, the key."""

    def __init__(self, names: list[str], runtime: str = "auto", api_key: str | None = None, max_streams: int = 16):
        self.names, self.runtime, self.api_key, self.max_streams = names, runtime, api_key, max_streams
        self.scheduler: Scheduler | None = None
        self.load_error: str | None = None
        threading.Thread(target=self._load, name="charbot-serve-loader", daemon=True).start()

    def _load(self) -> None:
        from charbot.errors import CharbotError
        from charbot.generate.loading import load_engine

        try:
            engines = {name: load_engine(name, self.runtime)[0] for name in self.names}
        except CharbotError as failure:
            self.load_error = str(failure)
            return
        self.scheduler = Scheduler(engines, max_streams=self.max_streams)

    def app(self) -> Starlette:
        routes = [Route("/health", self.health), Route("/metrics", self.metrics), Route("/v1/models", self.models),
                  Route("/v1/completions", self.completions, methods=["POST"]),
                  Route("/v1/chat/completions", self.chat_completions, methods=["POST"])]
        return Starlette(routes=routes)

    def _refused(self, request: Request) -> Response | None:
        """401 without the key (where one is set), 503 while loading."""
        if self.api_key is not None:
            given = request.headers.get("authorization", "")
            if not secrets.compare_digest(given.encode(), f"Bearer {self.api_key}".encode()):
                return error(401, "a valid API key is needed: Authorization: Bearer KEY", kind="authentication_error")
        if self.scheduler is None:
            return error(503, self.load_error or "the models are loading; try again shortly", kind="server_error",
                         headers={"Retry-After": "2"})
        return None

    async def health(self, request: Request) -> Response:
        if self.scheduler is None:
            return JSONResponse({"status": "error" if self.load_error else "loading", "error": self.load_error}, 503)
        return JSONResponse({"status": "ok", "models": self.names})

    async def models(self, request: Request) -> Response:
        if (refused := self._refused(request)) is not None:
            return refused
        created = int(time.time())
        return JSONResponse({"object": "list", "data": [{"id": name, "object": "model", "created": created,
                                                         "owned_by": "charbot"} for name in self.names]})

    async def completions(self, request: Request) -> Response:
        return await self._complete(request, chat=False)

    async def chat_completions(self, request: Request) -> Response:
        return await self._complete(request, chat=True)

    async def _complete(self, request: Request, chat: bool) -> Response:
        if (refused := self._refused(request)) is not None:
            return refused
        assert self.scheduler is not None
        if int(request.headers.get("content-length") or 0) > MAX_BODY:
            return error(413, f"the body is over {MAX_BODY:,} bytes")
        body = await request.body()
        if len(body) > MAX_BODY:
            return error(413, f"the body is over {MAX_BODY:,} bytes")
        try:
            job = parse(json.loads(body or b"null"), chat)
            if job.model not in self.names:
                raise BadRequest(f"unknown model {job.model!r}: this server has {', '.join(self.names)}", "model")
            constraint_for(job.settings, self.scheduler.engines[job.model].vocab, job.prefix)  # a form it cannot keep
        except CharbotError as bad:
            return error(400, str(bad), "form")
        except json.JSONDecodeError as bad:
            return error(400, f"the body is not valid JSON ({bad.msg} at character {bad.pos})")
        except BadRequest as bad:
            return error(400, str(bad), bad.param)
        if self.scheduler.full():
            return error(503, "too many requests queued; try again shortly", kind="server_error",
                         headers={"Retry-After": "1"})
        return await (_streamed(self.scheduler, job) if job.stream else _whole(self.scheduler, job))

    async def metrics(self, request: Request) -> Response:
        if self.scheduler is None:
            return PlainTextResponse("charbot_ready 0\n")
        m, s = self.scheduler.metrics, self.scheduler
        waits = sorted(m.first_char_seconds)
        p50 = waits[len(waits) // 2] if waits else 0.0
        lines = ["charbot_ready 1", f"charbot_requests_total {m.requests}", f"charbot_characters_total {m.characters}",
                 f"charbot_cancelled_total {m.cancelled}", f"charbot_prompt_characters_primed_total {m.primed}",
                 f"charbot_prompt_characters_cached_total {m.reused}", f"charbot_streams_active {s.active}",
                 f"charbot_queue_length {s.queued}", f"charbot_first_character_seconds_p50 {p50:.6f}"]
        return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")


def _submit(scheduler: Scheduler, job: Job) -> tuple[object, asyncio.Queue]:
    loop, pieces = asyncio.get_running_loop(), asyncio.Queue()  # type: ignore[var-annotated]
    task = scheduler.submit(job, lambda text, end: loop.call_soon_threadsafe(pieces.put_nowait, (text, end)))
    return task, pieces


def _envelope(job: Job, ident: str, created: int) -> dict:
    kind = "chat.completion" if job.chat else "text_completion"
    return {"id": ident, "object": kind + (".chunk" if job.stream and job.chat else ""), "created": created,
            "model": job.model}


def _choice(job: Job, text: str | None, finish: str | None, first: bool = False) -> dict:
    if not job.chat:
        return {"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish}
    if not job.stream:
        return {"index": 0, "message": {"role": "assistant", "content": text or ""}, "finish_reason": finish}
    delta = {"role": "assistant"} if first else {}
    return {"index": 0, "delta": {**delta, **({"content": text} if text else {})}, "finish_reason": finish}


def _usage(job: Job, completion: int) -> dict:
    return {"prompt_tokens": len(job.text), "completion_tokens": completion,
            "total_tokens": len(job.text) + completion}


async def _whole(scheduler: Scheduler, job: Job) -> Response:
    task, pieces = _submit(scheduler, job)
    text, finish = "", None
    try:
        while finish is None:
            piece, finish = await pieces.get()
            text += piece or ""
    finally:
        task.cancel()  # type: ignore[attr-defined]
    ident = f"{'chatcmpl' if job.chat else 'cmpl'}-{secrets.token_hex(12)}"
    return JSONResponse({**_envelope(job, ident, int(time.time())), "choices": [_choice(job, text, finish)],
                         "usage": _usage(job, len(text))})


async def _streamed(scheduler: Scheduler, job: Job) -> Response:
    task, pieces = _submit(scheduler, job)
    ident, created = f"{'chatcmpl' if job.chat else 'cmpl'}-{secrets.token_hex(12)}", int(time.time())

    def event(choices: list, **extra) -> str:
        return "data: " + json.dumps({**_envelope(job, ident, created), "choices": choices, **extra},
                                     ensure_ascii=False) + "\n\n"

    async def events():
        finish, first, sent = None, True, 0
        try:
            while finish is None:
                text, finish = await pieces.get()
                burst = [text or ""]
                deadline = time.perf_counter() + BURST_SECONDS
                while finish is None and time.perf_counter() < deadline:
                    try:
                        text, finish = await asyncio.wait_for(pieces.get(), deadline - time.perf_counter())
                    except asyncio.TimeoutError:
                        break
                    burst.append(text or "")
                if "".join(burst) or first:
                    yield event([_choice(job, "".join(burst), None, first)])
                    sent, first = sent + len("".join(burst)), False
            yield event([_choice(job, None, finish)])
            if job.include_usage:
                yield event([], usage=_usage(job, sent))
            yield "data: [DONE]\n\n"
        finally:
            task.cancel()  # type: ignore[attr-defined]  # a client gone leaves the batch at the next step

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
