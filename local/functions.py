"""Offline Lambda functions: each in its own processes, with exactly its own environment.

A ``LambdaFunction`` keeps a few execution environments (``python -I`` child
processes running ``local/worker.py``), like Lambda: one invocation at a
time per environment, a new environment (cold start) when all are busy, an
environment that times out or crashes is thrown away. The child's
environment is built from scratch: the template's variables plus the
variables Lambda itself sets, never the parent's (no credentials, no
``PYTHONPATH``, nothing from the other function).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any, Final

from local.cfn import REGION
from local.console import Console
from local.exceptions import (
    FunctionCrashed,
    FunctionRaised,
    FunctionTimeout,
    InitFailed,
    InvocationError,
)
from local.template import FunctionSpec

WORKER: Final = Path(__file__).resolve().with_name("worker.py")
END_MARKER: Final = "\x1eEND "  # as local/worker.py writes it
OUTPUT_GRACE_SECONDS: Final = 1.0
INIT_TIMEOUT_SECONDS: Final = 10.0  # Lambda's limit for the init phase
MAX_ENVIRONMENTS: Final = 4

# Sees every output line of a function (its name, the line): the metrics collector.
OutputObserver = Callable[[str, str], None]


def lambda_environment(spec: FunctionSpec, extra: Mapping[str, str]) -> dict[str, str]:
    """The template's variables, the offline stack's additions, then Lambda's reserved ones."""
    name = spec.logical_id
    return {
        **spec.environment,
        **extra,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "local",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
        "LAMBDA_TASK_ROOT": str(spec.code_dir),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "PATH": "/usr/local/bin:/usr/bin:/bin",
    }


class ExecutionEnvironment:
    """One child process: cold start on ``start``, then one invocation at a time."""

    _ids = itertools.count(1)

    def __init__(
        self,
        spec: FunctionSpec,
        env: Mapping[str, str],
        code_dirs: list[Path],
        console: Console,
        on_output: OutputObserver | None = None,
    ) -> None:
        self.spec = spec
        self._console = console
        self._on_output = on_output
        self._results: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._ended: set[int] = set()
        self._output = threading.Condition()
        read_fd, write_fd = os.pipe()
        command = [sys.executable, "-I", "-u", str(WORKER), "--handler", spec.handler]
        for code_dir in code_dirs:
            command += ["--code-dir", str(code_dir)]
        command += ["--result-fd", str(write_fd)]
        try:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=dict(env),
                cwd=spec.code_dir,
                pass_fds=(write_fd,),
                # Not in the terminal's process group: Ctrl-C is the parent's to handle.
                start_new_session=True,
                text=True,
                encoding="utf-8",
                errors="replace",
            )
        finally:
            os.close(write_fd)
        self._result_pipe = os.fdopen(read_fd, "r", encoding="utf-8")
        threading.Thread(target=self._relay_output, daemon=True).start()
        threading.Thread(target=self._read_results, daemon=True).start()

    def wait_ready(self) -> None:
        message = self._next(time.monotonic() + INIT_TIMEOUT_SECONDS, "init")
        self._wait_output(0)
        if not message.get("init"):
            self.stop()
            raise InitFailed(f"{message.get('errorType')}: {message.get('errorMessage')}")

    def invoke(self, event: Mapping[str, Any], request_id: str, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        invocation = next(self._ids)
        request = {
            "id": invocation,
            "requestId": request_id,
            "deadline": time.time() + timeout,
            "event": event,
        }
        stdin = self._stdin()
        try:
            stdin.write(json.dumps(request) + "\n")
            stdin.flush()
        except (BrokenPipeError, OSError):
            raise FunctionCrashed("the execution environment is gone") from None
        while True:
            message = self._next(deadline, "invocation", timeout)
            if message.get("id") != invocation:
                continue
            self._wait_output(invocation)
            if message.get("ok"):
                return message.get("result")
            raise FunctionRaised(f"{message.get('errorType')}: {message.get('errorMessage')}")

    def _next(self, deadline: float, phase: str, timeout: float | None = None) -> dict[str, Any]:
        try:
            message = self._results.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            limit = timeout if timeout is not None else INIT_TIMEOUT_SECONDS
            self._console.line(self.spec.logical_id, f"Task timed out after {limit:.2f} seconds")
            self.stop()
            raise FunctionTimeout(f"{phase} timed out after {limit} s") from None
        if message is None:
            self.stop()
            raise FunctionCrashed(f"the process exited during {phase}")
        return message

    def _stdin(self) -> IO[str]:
        if self._process.stdin is None:  # pragma: no cover - Popen was given PIPE
            raise FunctionCrashed("no stdin")
        return self._process.stdin

    def _wait_output(self, invocation: int) -> None:
        """Until the function's output for this phase has been printed (bounded)."""
        with self._output:
            self._output.wait_for(lambda: invocation in self._ended, OUTPUT_GRACE_SECONDS)
            self._ended.discard(invocation)

    def _relay_output(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            text, marker, invocation = line.rstrip("\n").partition(END_MARKER)
            if text.strip():  # the worker's marker starts a new line: skip the blank it may leave
                self._console.line(self.spec.logical_id, text)
                if self._on_output is not None:
                    self._on_output(self.spec.logical_id, text)
            if marker:
                with self._output:
                    self._ended.add(int(invocation) if invocation.isdigit() else -1)
                    self._output.notify_all()

    def _read_results(self) -> None:
        for line in self._result_pipe:
            try:
                self._results.put(json.loads(line))
            except ValueError:
                continue
        self._results.put(None)

    def alive(self) -> bool:
        return self._process.poll() is None

    def stop(self) -> None:
        if self._process.poll() is None:
            with contextlib.suppress(OSError):
                self._stdin().close()  # EOF: the worker's loop ends on its own
            try:
                self._process.wait(timeout=1)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


class LambdaFunction:
    """A function with a small pool of execution environments and an invocation counter."""

    def __init__(
        self,
        spec: FunctionSpec,
        console: Console,
        *,
        extra_env: Mapping[str, str] | None = None,
        code_dirs: list[Path] | None = None,
        max_environments: int = MAX_ENVIRONMENTS,
        on_output: OutputObserver | None = None,
    ) -> None:
        self.spec = spec
        self._on_output = on_output
        self.environment = lambda_environment(spec, extra_env or {})
        self._code_dirs = code_dirs or [spec.code_dir]
        self._console = console
        self._max = max_environments
        self._idle: list[ExecutionEnvironment] = []
        self._running = 0
        self._condition = threading.Condition()
        self._closed = False
        self.invocations = 0

    @property
    def name(self) -> str:
        return self.spec.logical_id

    def warm(self) -> None:
        """Start one environment now, so a broken configuration shows at start-up."""
        with self._condition:
            self._running += 1
        try:
            environment = self._start()
        except InvocationError:
            with self._condition:
                self._running -= 1
                self._condition.notify()
            raise
        self._release(environment)

    def invoke(self, event: Mapping[str, Any], request_id: str, timeout: float) -> Any:
        environment = self._acquire()
        with self._condition:
            self.invocations += 1
        try:
            result = environment.invoke(event, request_id, timeout)
        except FunctionRaised:
            self._release(environment)
            raise
        except InvocationError:
            self._discard(environment)
            raise
        self._release(environment)
        return result

    def _start(self) -> ExecutionEnvironment:
        environment = ExecutionEnvironment(
            self.spec, self.environment, self._code_dirs, self._console, self._on_output
        )
        environment.wait_ready()
        return environment

    def _acquire(self) -> ExecutionEnvironment:
        with self._condition:
            while True:
                if self._closed:
                    raise InvocationError("the offline stack is stopping")
                while self._idle:
                    environment = self._idle.pop()
                    if environment.alive():
                        return environment
                    self._running -= 1
                if self._running < self._max:
                    self._running += 1
                    break
                self._condition.wait()
        try:
            return self._start()
        except InvocationError:
            self._discard(None)
            raise

    def _release(self, environment: ExecutionEnvironment) -> None:
        with self._condition:
            if self._closed:
                environment.stop()
                self._running -= 1
            else:
                self._idle.append(environment)
            self._condition.notify()

    def _discard(self, environment: ExecutionEnvironment | None) -> None:
        if environment is not None:
            environment.stop()
        with self._condition:
            self._running -= 1
            self._condition.notify()

    def stop(self) -> None:
        with self._condition:
            self._closed = True
            idle, self._idle = self._idle, []
            self._condition.notify_all()
        for environment in idle:
            environment.stop()
