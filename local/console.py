"""One place that writes to the terminal, so lines from many threads never interleave."""

from __future__ import annotations

import sys
import threading
from typing import TextIO


class Console:
    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def line(self, source: str, text: str) -> None:
        stream = self._stream or sys.stdout
        with self._lock:
            stream.write(f"{source:<18} | {text}\n" if source else f"{text}\n")
            stream.flush()
