"""Lambda's event source mapping for a DynamoDB stream, offline: poll the stream, invoke.

moto implements DynamoDB Streams (``dynamodbstreams``: DescribeStream,
GetShardIterator, GetRecords) but not Lambda's pollers, so the offline stack
polls each mapped table's stream from ``LATEST`` (what the template's mapping
asks for) a few times a second, as Lambda does, and invokes the function
with the records in Lambda's event shape (``eventSourceARN`` on each record,
``ApproximateCreationDateTime`` in epoch seconds). A failed invocation is
retried, up to the mapping's ``MaximumRetryAttempts``, then the batch is
dropped with a log line, as Lambda drops it.
https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html
"""

from __future__ import annotations

import base64
import datetime
import secrets
import threading
from typing import Any, Final

from local.cognito import aws_client
from local.console import Console
from local.exceptions import InvocationError, StartupError
from local.functions import LambdaFunction

# Lambda polls a stream's shards about four times a second.
POLL_SECONDS: Final = 0.25


class StreamPoller:
    """One table's stream feeding one function, on a thread of its own."""

    def __init__(
        self,
        endpoint: str,
        table: str,
        function: LambdaFunction,
        console: Console,
        *,
        batch_size: int = 100,
        maximum_retry_attempts: int = -1,
    ) -> None:
        self.table = table
        self.function = function
        self.console = console
        self.batch_size = batch_size
        self.retries = maximum_retry_attempts
        self._streams = aws_client("dynamodbstreams", endpoint)
        described = aws_client("dynamodb", endpoint).describe_table(TableName=table)["Table"]
        self.stream_arn = described.get("LatestStreamArn")
        if not self.stream_arn:
            raise StartupError(f"table {table} has no stream for {function.name} to read")
        shards = self._streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
        # From now on, as StartingPosition LATEST asks.
        self._iterators = [
            self._streams.get_shard_iterator(
                StreamArn=self.stream_arn, ShardId=shard["ShardId"], ShardIteratorType="LATEST"
            )["ShardIterator"]
            for shard in shards["Shards"]
        ]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"stream-{table}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            for index, iterator in enumerate(self._iterators):
                try:
                    page = self._streams.get_records(ShardIterator=iterator, Limit=self.batch_size)
                except Exception as err:  # noqa: BLE001 - moto stopping, or a passing fault
                    if not self._stop.is_set():
                        self.console.line("stream", f"{self.table}: {type(err).__name__}")
                    continue
                self._iterators[index] = page.get("NextShardIterator") or iterator
                records = page.get("Records") or []
                if records:
                    self._deliver([self._record(record) for record in records])

    def _record(self, record: dict[str, Any]) -> dict[str, Any]:
        change = dict(record.get("dynamodb") or {})
        created = change.get("ApproximateCreationDateTime")
        if isinstance(created, datetime.datetime):
            change["ApproximateCreationDateTime"] = created.timestamp()
        return {**record, "dynamodb": change, "eventSourceARN": self.stream_arn}

    def _deliver(self, records: list[dict[str, Any]]) -> None:
        attempts = 1 + (self.retries if self.retries >= 0 else 10)
        for attempt in range(attempts):
            request_id = base64.b64encode(secrets.token_bytes(11)).decode()
            try:
                self.function.invoke(
                    {"Records": records}, request_id, self.function.spec.timeout_seconds
                )
            except InvocationError as err:
                self.console.line(
                    "stream",
                    f"{self.function.name} failed ({err.reason}), try {attempt + 1} of {attempts}",
                )
                if self._stop.wait(min(2**attempt * 0.1, 2)):
                    return
                continue
            return
        self.console.line("stream", f"{self.function.name}: batch of {len(records)} dropped")
