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
import copy
import json
import logging
import logging.handlers
import queue
import sys
import time
from typing import Literal

LogFormat = Literal["text", "json"]


class _Deferred(logging.handlers.QueueHandler):
    """Queue the record without formatting it: the listener's thread renders the message and any traceback."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        record = copy.copy(record)
        record.msg = record.getMessage()
        record.args = None
        return record


def _one_line(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\r", "\\r").replace("\n", "\\n")


class OneLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        when = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        line = f"{when} {record.levelname} {record.name}: {record.getMessage()}"
        if record.exc_info:
            line += " | " + self.formatException(record.exc_info)
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
            entry["exception"] = self.formatException(record.exc_info)
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
