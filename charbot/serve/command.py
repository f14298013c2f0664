"""`charbot serve`: the flags made into a `Server`, run by uvicorn until Ctrl-C or SIGTERM.

uvicorn stops taking connections on either signal and waits for the responses in flight (the streams
finish, or end with finish_reason "length" when the grace period is over); the command then exits 0.
This module is imported only when `charbot serve` runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

import uvicorn

from charbot.serve.app import Server


class _ExitingCleanly(uvicorn.Server):
    """uvicorn re-raises Ctrl-C or SIGTERM once it has shut down gracefully; a server asked to stop has done
    what it was asked, so charbot takes the two signals itself and exits 0."""

    @contextlib.contextmanager
    def capture_signals(self):
        previous = {number: signal.signal(number, self.handle_exit) for number in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)


def run_serve(args) -> int:
    key = args.api_key or os.environ.get("CHARBOT_API_KEY") or None
    names = args.checkpoint or ["shakespeare"]
    server = Server(names, args.runtime, key, args.max_streams)
    sys.stderr.write(f"charbot serve: {', '.join(names)} on http://{args.host}:{args.port}/v1"
                     f"{' (API key required)' if key else ''}; Ctrl-C stops\n")
    config = uvicorn.Config(server.app(), host=args.host, port=args.port, log_level="warning",
                            timeout_graceful_shutdown=10)
    _ExitingCleanly(config).run()
    if server.scheduler is not None:
        server.scheduler.stop()
    return 0
