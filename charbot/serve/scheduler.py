"""One thread that steps every active stream of the server, a character each in turn.

Streams join and leave between steps: a request's stream is started (its text primed, from the longest
cached state whose text begins it) when the thread next comes round, and leaves the moment it ends or its
client goes (`Task.cancel`, checked before every step). Each stream keeps its own seed and settings, so a
request's text is the one it gets alone. The engines are used from this thread only (a LiteRT interpreter
is not thread-safe). This module knows nothing of HTTP.

On LiteRT (with an export that has the "batch" signature) the streams of one model are stepped together,
one call for all their rows: each stream draws its own character, the model steps every row at once, and
each row is bitwise what it would be alone. Other engines step each stream in turn.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from charbot.generate.base import Engine, Stream
from charbot.generate.forms import constraint_for
from charbot.generate.litert import LiteRTEngine, LiteStream
from charbot.generate.state import PRIME_TAIL, GenState, Token, seed_or_new
from charbot.serve.requests import Job

PRIME_CHUNK = 64  # prompt characters fed a round, between the steps of the streams already running
FLUSH_SECONDS = 0.015  # how often a stream's characters are handed to its connection
CACHE_ENTRIES = 256
CACHE_BYTES = 64 << 20


class StateCache:
    """Engine states keyed by the text that made them, least recently used first out; bounded in entries
    and bytes. A text is primed from the longest cached text that begins it (as llama.cpp's cache_prompt)."""

    def __init__(self, entries: int = CACHE_ENTRIES, max_bytes: int = CACHE_BYTES):
        self.entries, self.max_bytes, self.bytes = entries, max_bytes, 0
        self._states: OrderedDict[tuple[str, str], tuple[GenState, int]] = OrderedDict()

    def nearest(self, model: str, text: str) -> tuple[GenState | None, int]:
        """The cached state of the longest text that begins `text` (None if none), and that text's length."""
        best = max((key for key in self._states if key[0] == model and text.startswith(key[1])),
                   key=lambda key: len(key[1]), default=None)
        if best is None:
            return None, 0
        self._states.move_to_end(best)
        return self._states[best][0], len(best[1])

    def put(self, model: str, text: str, state: GenState) -> None:
        key = (model, text)
        size = sum(np.asarray(t).nbytes for pair in state.layers for t in pair) + np.asarray(state.logits).nbytes
        if key in self._states:
            self.bytes -= self._states.pop(key)[1]
        self._states[key] = (state, size)
        self.bytes += size
        while len(self._states) > self.entries or self.bytes > self.max_bytes:
            self.bytes -= self._states.popitem(last=False)[1][1]


@dataclass
class Task:
    """One request's stream: what it emits, and whether its client is still there."""

    job: Job
    emit: Callable[[str | None, str | None], None]  # (text, None) for characters, (None, finish_reason) at the end
    submitted: float = field(default_factory=time.perf_counter)
    first_char: float | None = None
    completion: int = 0  # characters emitted
    generated: str = ""  # every character the model made, stop sequences too
    held: str = ""  # characters that may be the start of a stop sequence: sent once they cannot be
    outbox: str = ""  # characters sent but not yet handed over: handed over every FLUSH_SECONDS
    flushed: float = 0.0
    cancelled: bool = False
    primed: GenState | None = None  # while its text is being fed, a chunk a round: the state so far
    unread: str = ""  # and what of the text is still to feed
    stream: Stream | None = None  # the engine's stream, once started
    tokens: Iterator[Token] | None = None  # and the iterator over it

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class Metrics:
    requests: int = 0
    characters: int = 0
    cancelled: int = 0
    primed: int = 0  # prompt characters fed to a model
    reused: int = 0  # prompt characters whose state came from the cache instead
    first_char_seconds: list[float] = field(default_factory=list)  # the last 1,000


class Scheduler:
    def __init__(self, engines: dict[str, Engine], max_streams: int = 16, queue_limit: int = 64):
        self.engines, self.max_streams, self.queue_limit = engines, max_streams, queue_limit
        self.cache, self.metrics = StateCache(), Metrics()
        self._pending: queue.Queue[Task] = queue.Queue()
        self._active: list[Task] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="charbot-scheduler", daemon=True)
        self._thread.start()

    @property
    def active(self) -> int:
        return len(self._active)

    @property
    def queued(self) -> int:
        return self._pending.qsize()

    def full(self) -> bool:
        return self.queued >= self.queue_limit

    def submit(self, job: Job, emit) -> Task:
        task = Task(job, emit)
        self.metrics.requests += 1
        self._pending.put(task)
        return task

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the streams in flight (those still running then end with finish_reason "length"), then stop."""
        self._stopping.set()
        self._thread.join(timeout)
        for task in self._active:
            task.emit(None, "length")

    def _run(self) -> None:
        while not (self._stopping.is_set() and not self._active and self._pending.empty()):
            self._admit()
            if not self._active:
                time.sleep(0.002)
                continue
            for model, tasks in self._by_model().items():
                for task in [task for task in tasks if task.primed is not None]:
                    self._prime_some(task)
                tasks = [task for task in tasks if task.tokens is not None]
                engine = self.engines[model]
                if isinstance(engine, LiteRTEngine) and engine.batches:
                    self._step_together(engine, tasks)
                else:
                    for task in tasks:
                        self._step(task)

    def _by_model(self) -> dict[str, list[Task]]:
        groups: dict[str, list[Task]] = {}
        for task in list(self._active):
            if task.cancelled:
                self._active.remove(task)
                self.metrics.cancelled += 1
            else:
                groups.setdefault(task.job.model, []).append(task)
        return groups

    def _step_together(self, engine: LiteRTEngine, tasks: list[Task]) -> None:
        """One character for every stream of a LiteRT model, in one call of its "batch" signature: each
        stream draws its own character (its seed, its settings), the model steps them all, each takes its row."""
        going, ids = [], []
        for task in tasks:
            stream = task.stream
            assert isinstance(stream, LiteStream)
            if (char_id := stream.propose()) is None:
                self._active.remove(task)
                self._finish(task, "stop" if stream.stopped_by == "stop" else "length")
            else:
                going.append(task)
                ids.append(char_id)
        if not going:
            return
        states = np.concatenate([task.stream._states for task in going], axis=1)  # type: ignore[union-attr]
        logits, states = engine.step_rows(np.asarray(ids, np.int32), states)
        for row, task in enumerate(going):
            token = task.stream.accept(logits[row:row + 1].copy(), states[:, row:row + 1].copy())  # type: ignore[union-attr]
            self._emitted(task, token)

    def _admit(self) -> None:
        """New requests join: each starts from the longest cached text that begins its own."""
        while len(self._active) < self.max_streams:
            try:
                task = self._pending.get_nowait()
            except queue.Empty:
                return
            if task.cancelled:
                self.metrics.cancelled += 1
                continue
            engine, text = self.engines[task.job.model], task.job.text
            cached, reused = self.cache.nearest(task.job.model, text)
            self.metrics.primed += len(text) - reused
            self.metrics.reused += reused
            task.primed, task.unread = cached or engine.fresh_state(), text[reused:]
            if len(task.unread) > PRIME_TAIL:  # a long text: read at once, as `start` reads it (its last part)
                task.primed, task.unread = engine.start(text)[0], ""
            self._active.append(task)

    def _prime_some(self, task: Task) -> None:
        """Feed the next PRIME_CHUNK characters of a task's text, so that a long prompt does not stall the
        streams already running; once all is fed, the state is cached and the stream starts."""
        engine = self.engines[task.job.model]
        assert task.primed is not None
        task.primed = engine.prime(task.primed, task.unread[:PRIME_CHUNK])[0]
        task.unread = task.unread[PRIME_CHUNK:]
        if not task.unread:
            self.cache.put(task.job.model, task.job.text, task.primed)
            constraint = constraint_for(task.job.settings, engine.vocab, task.job.prefix)  # checked when submitted
            task.stream = engine.stream(task.primed, task.job.settings, seed_or_new(task.job.settings.seed), constraint)
            task.tokens, task.primed = iter(task.stream), None

    def _step(self, task: Task) -> None:
        assert task.tokens is not None and task.stream is not None  # started by _admit
        try:
            token = next(task.tokens)
        except StopIteration:
            self._active.remove(task)
            self._finish(task, "stop" if task.stream.stopped_by == "stop" else "length")
            return
        self._emitted(task, token)

    def _emitted(self, task: Task, token: Token) -> None:
        if task.first_char is None:
            task.first_char = time.perf_counter()
            self.metrics.first_char_seconds = [*self.metrics.first_char_seconds[-999:], task.first_char - task.submitted]
        self.metrics.characters += 1
        task.generated += token.text
        task.held += token.text
        stops = task.job.settings.stop
        keep = max((n for stop in stops for n in range(1, len(stop) + 1) if task.held.endswith(stop[:n])), default=0)
        if len(task.held) > keep:  # OpenAI's rule: a stop sequence is never sent, so what may begin one waits
            self._send(task, task.held[:len(task.held) - keep])
            task.held = task.held[len(task.held) - keep:]

    def _send(self, task: Task, text: str) -> None:
        """Hand characters over in bursts: a hand-over wakes the client's event loop, so one a character
        would cost more than the character (the first goes at once, for the time to the first character)."""
        task.completion += len(text)
        task.outbox += text
        now = time.perf_counter()
        if now - task.flushed >= FLUSH_SECONDS:
            task.emit(task.outbox, None)
            task.outbox, task.flushed = "", now

    def _finish(self, task: Task, reason: str) -> None:
        ended = next((stop for stop in task.job.settings.stop if task.held.endswith(stop)), "") if reason == "stop" else ""
        if task.held[:len(task.held) - len(ended)]:
            self._send(task, task.held[:len(task.held) - len(ended)])
        if task.outbox:
            task.emit(task.outbox, None)
        task.emit(None, reason)
        if task.stream is not None:  # a client that sends the conversation again starts from here
            self.cache.put(task.job.model, task.job.text + task.generated, task.stream.state)
