"""A look-alike of Lambda's JSON log format, for the offline stack and the tests only.

Deployed, the functions never format a log line: with ``LoggingConfig``
``LogFormat: JSON`` the Python runtime puts its own handler on the root
logger and writes each record as one JSON object. Its layout, which this
module copies so that local lines read like deployed ones:

- ``timestamp`` (UTC, milliseconds, ``Z``), ``level``, ``message``,
  ``logger``, ``requestId`` (Lambda's own request id), then every attribute
  passed with ``extra=`` at the root of the object;
- an ``extra`` key the runtime already writes (``requestId`` among them) is
  dropped, and so is any member whose value is None;
- with an exception: ``errorType``, ``errorMessage``, ``stackTrace``, ``location``.

https://docs.aws.amazon.com/lambda/latest/dg/python-logging.html
https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-advanced.html
The runtime's formatter: ``awslambdaric/lambda_runtime_log_utils.py`` in
https://github.com/aws/aws-lambda-python-runtime-interface-client

Standard library only: ``local/worker.py`` loads this file by path before
the function's own code, as the runtime sets up logging before importing
the handler. Never part of a Lambda artifact.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
from typing import Any, Final

# The LogRecord attributes the runtime leaves out of the JSON object.
RESERVED: Final = frozenset(
    {
        "name",
        "msg",
        "args",
        "levelname",
        "levelno",
        "pathname",
        "filename",
        "module",
        "exc_info",
        "exc_text",
        "stack_info",
        "lineno",
        "funcName",
        "created",
        "msecs",
        "relativeCreated",
        "thread",
        "threadName",
        "processName",
        "process",
        "aws_request_id",
        "tenant_id",
        "_frame_type",
        # Set by Logger.makeRecord from Python 3.12; None outside asyncio, so dropped there too.
        "taskName",
    }
)
# Lambda's ApplicationLogLevel names as Python levels (the runtime maps TRACE to DEBUG).
LAMBDA_LEVELS: Final = {
    "TRACE": logging.DEBUG,
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARN": logging.WARNING,
    "ERROR": logging.ERROR,
    "FATAL": logging.CRITICAL,
}

_encode = json.JSONEncoder(ensure_ascii=False).encode


def _timestamp(created: float) -> str:
    milliseconds = int(created * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{milliseconds:03d}Z"


class LambdaJsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        exc_info = record.exc_info if record.exc_info and record.exc_info[0] else None
        line: dict[str, Any] = {
            "timestamp": _timestamp(record.created),
            "level": logging.getLevelName(min(50, max(0, record.levelno)) // 10 * 10),
            "message": record.getMessage(),
            "logger": record.name,
            "stackTrace": traceback.format_tb(exc_info[2]) if exc_info else None,
            "errorType": exc_info[0].__name__ if exc_info and exc_info[0] else None,
            "errorMessage": str(exc_info[1]) if exc_info else None,
            "requestId": getattr(record, "aws_request_id", None),
            "location": f"{record.pathname}:{record.funcName}:{record.lineno}"
            if exc_info
            else None,
        }
        for key, value in record.__dict__.items():
            if key not in RESERVED and key not in line:
                line[key] = value
        # As the runtime's: no default=, so a value JSON cannot encode fails here, loudly.
        return _encode({k: v for k, v in line.items() if v is not None})


class _RequestId(logging.Filter):
    """Stamps Lambda's request id on each record, as the runtime's filter does."""

    def __init__(self) -> None:
        super().__init__()
        self.current = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.current
        return True


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stdout`` is at the time (test captures replace it)."""

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


_REQUEST_ID = _RequestId()


def install(application_log_level: str | None = None) -> logging.Handler:
    """Put the look-alike handler on the root logger, once; return it.

    ``application_log_level`` is Lambda's name (``WARN``, not ``WARNING``);
    like the runtime, it sets the root logger's level when given.
    """
    root = logging.getLogger()
    handler = next((h for h in root.handlers if isinstance(h.formatter, LambdaJsonFormatter)), None)
    if handler is None:
        handler = _StdoutHandler()
        handler.setFormatter(LambdaJsonFormatter())
        handler.addFilter(_REQUEST_ID)
        root.addHandler(handler)
    if application_log_level:
        root.setLevel(LAMBDA_LEVELS[application_log_level.upper()])
    return handler


def set_request_id(request_id: str) -> None:
    """Lambda's request id for the records of the invocation that starts now."""
    _REQUEST_ID.current = request_id
