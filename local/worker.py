"""The inside of one offline Lambda execution environment (a child process).

Started by ``local.functions`` with ``python -I``, the environment the
template gives the function and nothing else. It imports the handler once
(the cold start: module-level code such as the authorizer's configuration
and JWKS warm-up runs here), then serves invocations one at a time: a JSON
line with the event on stdin, a JSON line with the result on the result pipe.
stdout and stderr stay the function's own, as they are in Lambda, and the
parent prints them prefixed with the function's name.

Only the standard library is imported here, before the handler's own code.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import signal
import sys
import time
import traceback
from typing import Any, TextIO


class LambdaContext:
    """The attributes of Lambda's context object that handlers commonly read."""

    def __init__(self, request_id: str, deadline: float) -> None:
        name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "function")
        region = os.environ.get("AWS_REGION", "us-east-1")
        self.function_name = name
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.invoked_function_arn = f"arn:aws:lambda:{region}:123456789012:function:{name}"
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", f"/aws/lambda/{name}")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "local")
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))


# After each phase, on stdout itself: lets the parent print the function's log lines
# before the access line of the request they belong to. Never shown.
END_MARKER = "\x1eEND "


def _end(invocation: int) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    sys.stdout.write(f"\n{END_MARKER}{invocation}\n")
    sys.stdout.flush()


def _send(channel: TextIO, message: dict[str, Any]) -> None:
    channel.write(json.dumps(message, default=str) + "\n")
    channel.flush()


def _error(err: BaseException) -> dict[str, Any]:
    return {
        "errorType": type(err).__name__,
        "errorMessage": str(err),
        "stackTrace": traceback.format_exception(err)[-6:],
    }


def _lambda_log_format() -> Any:
    """local/lambdalog.py, by path: ``-I`` keeps this directory off ``sys.path``."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lambdalog.py")
    spec = importlib.util.spec_from_file_location("_local_lambdalog", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--handler", required=True)
    parser.add_argument("--code-dir", action="append", default=[])
    parser.add_argument("--result-fd", type=int, required=True)
    args = parser.parse_args()

    # Ctrl-C in the terminal belongs to the parent, which stops us in order.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.path[:0] = args.code_dir
    results = os.fdopen(args.result_fd, "w", encoding="utf-8")
    # Lambda's runtime sets up its JSON log handler before it imports the handler.
    lambdalog = _lambda_log_format()
    lambdalog.install()

    module_name, _, function_name = args.handler.rpartition(".")
    try:
        handler = getattr(importlib.import_module(module_name), function_name)
    except BaseException as err:  # noqa: BLE001 - any init failure is reported, as Lambda does
        print(f"INIT_ERROR {type(err).__name__}: {err}", file=sys.stderr, flush=True)
        _end(0)
        _send(results, {"init": False, **_error(err)})
        return 1
    _end(0)
    _send(results, {"init": True})

    for line in sys.stdin:
        request = json.loads(line)
        context = LambdaContext(request["requestId"], request["deadline"])
        lambdalog.set_request_id(context.aws_request_id)
        try:
            value = handler(request["event"], context)
            payload = json.loads(json.dumps(value))
        except Exception as err:  # noqa: BLE001 - an unhandled error is the invocation's result
            print(f"[ERROR] {type(err).__name__}: {err}", file=sys.stderr, flush=True)
            _end(request["id"])
            _send(results, {"id": request["id"], "ok": False, **_error(err)})
            continue
        _end(request["id"])
        _send(results, {"id": request["id"], "ok": True, "result": payload})
    return 0


if __name__ == "__main__":
    sys.exit(main())
