"""The server's log: one line per record on stderr, written by a thread of its own.

The SDK's `MCPServer(log_level=...)` calls `logging.basicConfig` with a `RichHandler(rich_tracebacks=True)`.
The SDK logs a crashing tool with `logger.exception` on the event loop, and rendering a rich traceback there
(syntax highlighting, locals, wrapping at the console's 80 columns) stalled every session for seconds. cublab
installs its own handler on the root logger first, so `basicConfig` finds one and does nothing: records go onto a
queue with their arguments merged (cheap), and a `QueueListener` thread formats them, tracebacks included, and
writes them. A record is one line: plain text with newlines escaped, or a JSON object (`--log-format json`).
"""

from __future__ import annotations

import atexit
import json
import logging
import logging.handlers
import queue
import sys
import time
import traceback
from typing import Literal

LogFormat = Literal["text", "json"]


class _Deferred(logging.handlers.QueueHandler):
    """Queue the record without formatting it: the listener's thread renders the message and any traceback."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        queued = logging.LogRecord.__new__(logging.LogRecord)
        queued.__dict__.update(record.__dict__)
        queued.msg = record.getMessage()
        queued.args = None
        return queued


MAX_FRAMES = 40
MAX_CHAIN = 5


def compact_traceback(exc: BaseException | None) -> str:
    """A traceback on one line, cheaply: each exception of the chain with its frames as `file:line function`,
    innermost last. No source lines are read and no caret anchors computed, which is most of what
    `traceback.format_exception` costs (and that cost, even on another thread, holds the GIL the event loop needs).
    """
    parts: list[str] = []
    while exc is not None and len(parts) < MAX_CHAIN:
        frames = [
            f"{'/'.join(frame.f_code.co_filename.rsplit('/', 2)[-2:])}:{line} {frame.f_code.co_name}"
            for frame, line in traceback.walk_tb(exc.__traceback__)
        ]
        if len(frames) > MAX_FRAMES:
            frames = [*frames[:5], f"... {len(frames) - MAX_FRAMES} frames ...", *frames[-(MAX_FRAMES - 5) :]]
        parts.append(f"{type(exc).__qualname__}: {exc} [{' > '.join(frames)}]")
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    return " <- caused by: ".join(parts)


def _one_line(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\r", "\\r").replace("\n", "\\n")


class OneLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        when = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        line = f"{when} {record.levelname} {record.name}: {record.getMessage()}"
        if record.exc_info:
            line += " | " + compact_traceback(record.exc_info[1])
        elif record.exc_text:
            line += " | " + record.exc_text
        return _one_line(line)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = compact_traceback(record.exc_info[1])
        return json.dumps(entry, ensure_ascii=False)


class _State:
    handler: _Deferred | None = None
    stream: logging.StreamHandler | None = None
    listener: logging.handlers.QueueListener | None = None


def configure(level: str = "WARNING", fmt: LogFormat = "text") -> None:
    """Install (once per process) the queued one-line handler on the root logger; later calls change the level
    and the format. Any RichHandler already installed by the SDK is removed."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if type(handler).__name__ == "RichHandler":
            root.removeHandler(handler)
    if _State.handler is None:
        q: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        _State.stream = logging.StreamHandler(sys.stderr)
        _State.handler = _Deferred(q)
        _State.listener = logging.handlers.QueueListener(q, _State.stream)
        _State.listener.start()
        atexit.register(_State.listener.stop)  # drains the queue: the last records are written before exit
    assert _State.stream is not None
    _State.stream.setFormatter(JsonFormatter() if fmt == "json" else OneLineFormatter())
    if _State.handler not in root.handlers:
        root.addHandler(_State.handler)
    root.setLevel(level)
