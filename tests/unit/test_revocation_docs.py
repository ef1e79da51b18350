"""What the revocation docs promise, held to the code: the table's items (a public contract),
the DynamoDB client's bounds and what a slow DynamoDB means for decisions, every log line
of the sign-out function, the offline metrics' revocation row and ``make revoke``'s naming.

Each fact's page is one constant (``REVOCATION_DOCS``, ``OPERATIONS_DOCS``): when a
section moves, repoint it. The tables are read as markdown, so a row added or changed on
either side fails here.
"""

from __future__ import annotations

import ast
import calendar
import http.server
import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest
import responses
from botocore.exceptions import ClientError, ReadTimeoutError

from authorizer.exceptions import RevocationUnavailable
from authorizer.signout.handler import load_settings
from authorizer.tables import mirror
from authorizer.tables.mirror import _client
from authorizer.tables.revocation import (
    EXPIRES_AT,
    FAMILY,
    KINDS,
    MAX_VALUE_BYTES,
    PARTITION,
    PARTITION_KEY,
    READ_ATTRIBUTES,
    SORT_KEY,
    USER,
    InvalidRevocation,
    Revocation,
    cursor,
    parse_item,
    revocation_item,
)
from authorizer.tables.revocation_list import RevocationList, dynamodb_query
from local.metrics import summary_lines
from shared.exceptions import ConfigurationError
from tests.docs.pages import cells, documented, page, table_rows
from tests.forge import authorizer_event, claims, sign
from tests.helpers import FakeClock, FakeRevocationTable, make_config, wire_authorizer
from tests.unit.test_revoke_script import fake_aws

ROOT: Final = Path(__file__).resolve().parents[2]
# The pages these facts live on, from the repository root: repoint one when its section moves.
REVOCATION_DOCS: Final = "docs/revocation.md"  # sign-out and revocation
OPERATIONS_DOCS: Final = "docs/operations.md"  # the offline metrics summary
SIGN_OUT: Final = ROOT / "authorizer" / "signout"
# Each function's modules, and the page whose table lists every line they log.
LOGGING_FUNCTIONS: Final = {
    "sign-out": ((SIGN_OUT / "handler.py", SIGN_OUT / "app.py"), REVOCATION_DOCS),
    "websocket": (
        (
            SIGN_OUT / "connections.py",
            SIGN_OUT / "connections_app.py",
            SIGN_OUT / "hangup.py",
            SIGN_OUT / "hangup_app.py",
        ),
        "docs/websocket.md",
    ),
}
SUB: Final = "0b7e5a3c-1f2d-4c6b-9a8e-7d6c5b4a3f21"


def said(*phrases: str, where: str = REVOCATION_DOCS) -> None:
    """Each phrase is on the page, whatever the line breaks."""
    documented(*phrases, where=where)


def table(*header: str, where: str = REVOCATION_DOCS) -> list[dict[str, str]]:
    """The rows of the one table on the page headed exactly ``header``, by column."""
    text = page(where)
    headed = [
        line for line in text.splitlines() if line.startswith("|") and cells(line) == list(header)
    ]
    assert len(headed) == 1, f"{len(headed)} tables headed {header} in {where}"
    rows = table_rows(text, header[0])
    assert all(len(row) == len(header) for row in rows), rows
    return [dict(zip(header, row, strict=True)) for row in rows]


def unquoted(cell: str) -> str:
    assert cell.startswith("`"), cell
    assert cell.endswith("`"), cell
    return cell[1:-1]


# --- the table's items -----------------------------------------------------------------


@pytest.fixture
def items() -> dict[str, dict[str, str]]:
    return {unquoted(row["attribute"]): row for row in table("attribute", "type", "key", "value")}


def test_the_item_table_names_every_attribute_the_writers_write_with_its_type(
    items: dict[str, dict[str, str]],
) -> None:
    for kind in KINDS:
        item = revocation_item(kind, "v", 1_767_225_600)
        assert set(items) == set(item)
        assert {name: unquoted(row["type"]) for name, row in items.items()} == {
            name: next(iter(value)) for name, value in item.items()
        }
    keys = {name: row["key"] for name, row in items.items() if row["key"]}
    assert keys == {PARTITION_KEY: "partition key", SORT_KEY: "sort key"}


def test_the_key_layout_is_the_one_written_and_read(items: dict[str, dict[str, str]]) -> None:
    assert items[PARTITION_KEY]["value"] == f"always `{PARTITION}`"
    layout = items[SORT_KEY]["value"]
    assert layout.startswith("`<revoked at>#<kind>#<value>`: the revocation time in epoch ")
    digits = len(cursor(0))
    assert f"epoch milliseconds as {digits} digits (leading zeros)" in layout
    revoked_at = 1_767_225_600.25
    item = revocation_item(USER, SUB, revoked_at)
    assert item[SORT_KEY]["S"] == f"{int(revoked_at * 1000):0{digits}d}#{USER}#{SUB}"
    assert parse_item(item) == Revocation(
        item[SORT_KEY]["S"], USER, SUB, 1_767_225_600, 1_767_312_301
    )
    assert items["kind"]["value"] == " or ".join(f"`{kind}`" for kind in KINDS)


def test_a_value_is_printable_text_of_1_to_256_bytes(items: dict[str, dict[str, str]]) -> None:
    assert f"printable text of 1 to {MAX_VALUE_BYTES} bytes (UTF-8)" in items["value"]["value"]
    assert revocation_item(FAMILY, "é" * (MAX_VALUE_BYTES // 2), 1)["value"]["S"]
    for refused in ("", "é" * (MAX_VALUE_BYTES // 2) + "x", "line\nbreak"):
        with pytest.raises(InvalidRevocation):
            revocation_item(FAMILY, refused, 1)


def test_times_are_whole_epoch_seconds_rounded_down_and_expiry_after_them(
    items: dict[str, dict[str, str]],
) -> None:
    assert items["revokedAt"]["value"] == (
        "epoch seconds, whole: the sort key's milliseconds divided by 1000, rounded down"
    )
    item = revocation_item(USER, SUB, 1_767_225_600.999)
    assert (item["revokedAt"]["N"], item[SORT_KEY]["S"][:15]) == ("1767225600", "001767225600999")
    expiry = items[EXPIRES_AT]["value"]
    assert expiry.startswith("epoch seconds, whole, after `revokedAt`: the table's TTL attribute")
    assert [name for name, row in items.items() if "TTL" in row["value"]] == [EXPIRES_AT]
    for too_early in (1_767_225_600, 1_767_225_599):
        with pytest.raises(InvalidRevocation, match="after revokedAt"):
            revocation_item(USER, SUB, 1_767_225_600, too_early)


def test_the_cli_example_is_the_item_the_writers_write_and_the_reader_reads() -> None:
    said("2026-01-01T00:00:00Z, for a day and 300 s, with the AWS CLI")
    [example] = re.findall(
        r"put-item --table-name \S+ --item '(\{.*?\})'", page(REVOCATION_DOCS), re.DOTALL
    )
    documented = json.loads(example)
    revoked_at = calendar.timegm((2026, 1, 1, 0, 0, 0))
    assert documented == revocation_item(USER, SUB, revoked_at)
    assert parse_item(documented) == Revocation(
        documented[SORT_KEY]["S"], USER, SUB, revoked_at, revoked_at + 86400 + 300
    )


def test_the_reader_uses_the_sort_key_and_expiry_and_ignores_an_item_that_disagrees(
    caplog: pytest.LogCaptureFixture,
) -> None:
    said(
        "The authorizer reads only `sk` and `expiresAt`",
        "when present they must agree with the sort key",
        "it is ignored, and counted in the authorizer's warning `revocation list has items it "
        "cannot read; ignored` (field `invalidItems`)",
    )
    assert READ_ATTRIBUTES == (SORT_KEY, EXPIRES_AT)
    good = revocation_item(FAMILY, "family-1", 1_767_225_600)
    read = {name: good[name] for name in READ_ATTRIBUTES}
    assert parse_item(read) == parse_item(good)
    disagreeing = {**revocation_item(FAMILY, "family-2", 1_767_225_600), "kind": {"S": USER}}
    clock = FakeClock(now=1_767_225_700)
    revocations = RevocationList(
        lambda after: [good, disagreeing],
        refresh_seconds=10,
        max_stale_seconds=120,
        logger=logging.getLogger("revocation-docs"),
        clock=clock,
        background=False,
    )
    assert revocations.load()
    assert len(revocations) == 1  # the good one; the other revokes nothing
    [warning] = [r for r in caplog.records if r.name == "revocation-docs"]
    assert (warning.getMessage(), warning.__dict__["invalidItems"]) == (
        "revocation list has items it cannot read; ignored",
        1,
    )


# --- the DynamoDB client ---------------------------------------------------------------


def test_the_clients_documented_bounds_are_the_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    rows = {row["client setting"]: row["value"] for row in table("client setting", "value")}
    assert set(rows) == {"connect timeout", "read timeout", "attempts", "connection pool"}
    config = _client("revocations").meta.config

    def number(setting: str) -> float:
        return float(rows[setting].split()[0])

    assert number("connect timeout") == config.connect_timeout == 0.5
    assert number("read timeout") == config.read_timeout == 1.0
    assert number("attempts") == config.retries["total_max_attempts"] == 2
    assert "botocore's `standard` retry mode" in rows["attempts"]
    assert config.retries["mode"] == "standard"
    assert number("connection pool") == config.max_pool_connections == 10


class DynamoDB(http.server.BaseHTTPRequestHandler):
    """A DynamoDB on 127.0.0.1 that answers every request as ``answer`` says, and counts them."""

    answer: tuple[int, str] | None = None  # None: never answers (until released)
    requests: list[str]
    released: threading.Event

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.requests.append(self.headers.get("X-Amz-Target", ""))
        if self.answer is None:
            self.released.wait(10)
            return
        status, error = self.answer
        body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{error}", "message": "x"})
        self.send_response(status)
        self.send_header("content-type", "application/x-amz-json-1.0")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[DynamoDB]]:
    handler: type[DynamoDB] = type(
        "Handler", (DynamoDB,), {"requests": [], "released": threading.Event()}
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    for name, value in {
        "AWS_ENDPOINT_URL_DYNAMODB": f"http://127.0.0.1:{server.server_address[1]}",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    try:
        yield handler
    finally:
        handler.released.set()
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    "answer",
    [
        (500, "InternalServerError"),
        (400, "ThrottlingException"),
        None,  # silent past the read timeout
    ],
    ids=["5xx", "throttled", "silent"],
)
def test_a_failing_request_is_sent_twice_in_all(
    dynamodb: type[DynamoDB], answer: tuple[int, str] | None
) -> None:
    said("retries a throttled, 5xx, timed-out or dropped request once")
    dynamodb.answer = answer
    with pytest.raises((ClientError, ReadTimeoutError)):
        list(dynamodb_query("revocations")(cursor(0)))
    assert dynamodb.requests == ["DynamoDB_20120810.Query"] * 2


def test_a_slow_query_holds_each_request_its_2_s_then_the_list_it_has_decides(
    clock: FakeClock,
    jwks_endpoint: responses.RequestsMock,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    said(
        "A request waits at most 2 s in all for the Query it needs",
        "every request that needs it waits its 2 s again until it ends",
        "one still running after 30 s is given up as failed",
        "a 500 (`revocation_unavailable`) past it",
    )
    table = FakeRevocationTable()
    wired = wire_authorizer(
        make_config(REVOCATION_TABLE="revocations"), clock, warm=True, revocation_query=table
    )
    revocations = wired.verifier.revocations
    assert isinstance(revocations, RevocationList)
    read_at = clock.now
    answer = threading.Event()

    def hung(after: str) -> list[dict[str, Any]]:
        answer.wait(10)
        return table(after)

    waits: list[float] = []
    monkeypatch.setattr(revocations, "_query", hung)
    assert mirror.WAIT_SECONDS == 2.0  # the documented bound, shortened here to run fast
    monkeypatch.setattr(mirror, "WAIT_SECONDS", 0.3)
    token = sign(claims(now=clock.now, origin_jti=None, sub="someone"))
    try:
        clock.advance(10)  # a whole interval: the list is due
        for _ in range(2):
            started = time.monotonic()
            assert wired.handle(authorizer_event(token))["isAuthorized"] is True
            waits.append(time.monotonic() - started)  # the Query never answered meanwhile
            clock.advance(1)
        assert all(0.29 <= waited < 1.0 for waited in waits)
        clock.advance(30)  # the Query, still running, is given up
        assert wired.handle(authorizer_event(token))["isAuthorized"] is True
        assert "revocation list refresh failed" in capsys.readouterr().out
        clock.now = read_at + 120  # REVOCATION_MAX_STALE_SECONDS after the last good read began
        with pytest.raises(RevocationUnavailable):
            wired.handle(authorizer_event(token))
    finally:
        answer.set()


# --- the sign-out function's log lines --------------------------------------------------


LOG_METHODS: Final = {"debug", "info", "warning", "error", "exception", "critical"}


def logged_lines(sources: tuple[Path, ...]) -> set[tuple[str, str, frozenset[str]]]:
    """Every (message, level, extra fields) a logger call in ``sources`` can write.

    Read from the source with ``ast``: a message must be fixed text (a string, or a
    choice of strings), and ``extra`` a dict whose ``**`` parts are dicts built in
    the same function, so that nothing it can log escapes this list.
    """
    found = set()
    for path in sources:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef) or mutmuts_variant(function.name):
                continue
            local_dicts = {
                node.targets[0].id: node.value
                for node in ast.walk(function)
                if isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and isinstance(node.value, ast.Dict)
            }
            for call in ast.walk(function):
                if not (
                    isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Attribute)
                    and call.func.attr in LOG_METHODS
                    and "logger" in ast.unparse(call.func.value)
                ):
                    continue
                where = f"{path.name}:{call.lineno}"
                messages = fixed_texts(call.args[0], where)
                extras = [k.value for k in call.keywords if k.arg == "extra"]
                fields = dict_keys(extras[0], local_dicts, where) if extras else frozenset()
                found |= {(m, call.func.attr.upper(), fields) for m in messages}
    return found


def mutmuts_variant(name: str) -> bool:
    """A mutant mutmut wrote beside the function (make mutate's copy), not the function itself."""
    return "__mutmut_" in name and not name.endswith("__mutmut_orig")


def fixed_texts(node: ast.expr, where: str) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return fixed_texts(node.body, where) + fixed_texts(node.orelse, where)
    raise AssertionError(f"{where}: a log message must be fixed text, not {ast.unparse(node)}")


def dict_keys(node: ast.expr, local_dicts: dict[str, ast.Dict], where: str) -> frozenset[str]:
    if isinstance(node, ast.Name) and node.id in local_dicts:  # a dict built in the function
        node = local_dicts[node.id]
    assert isinstance(node, ast.Dict), f"{where}: extra must be a dict literal"
    keys: set[str] = set()
    for key, value in zip(node.keys, node.values, strict=True):
        if key is None:  # **something
            assert isinstance(value, ast.Name), where
            assert value.id in local_dicts, where
            keys |= dict_keys(local_dicts[value.id], local_dicts, where)
        else:
            assert isinstance(key, ast.Constant), where
            assert isinstance(key.value, str), where
            keys.add(key.value)
    return frozenset(keys)


def test_every_module_of_signout_is_one_functions() -> None:
    listed = {path for sources, _ in LOGGING_FUNCTIONS.values() for path in sources}
    assert listed == set(SIGN_OUT.glob("*.py")) - {SIGN_OUT / "__init__.py"}


@pytest.mark.parametrize("function", sorted(LOGGING_FUNCTIONS))
def test_every_line_each_function_can_log_is_in_the_docs_and_no_other(function: str) -> None:
    sources, where = LOGGING_FUNCTIONS[function]
    documented = {
        (
            unquoted(row["message"]),
            row["level"],
            frozenset(
                unquoted(field.split(" (")[0]) for field in row["fields"].split(", ") if field
            ),
        )
        for row in table("message", "level", "when", "fields", where=where)
    }
    written = logged_lines(sources)
    assert any("is the route protected?" in message for message, _, _ in written)
    assert documented == written


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"REVOCATION_TABLE": "t", "REFRESH_TOKEN_VALIDITY_DAYS": "0"},
        {"REVOCATION_TABLE": "t", "LOG_LEVEL": "verbose"},
    ],
)
def test_every_setting_that_stops_its_cold_start_is_named_in_the_docs(env: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError) as raised:
        load_settings(env)
    said(f"`{raised.value}`")


# --- offline metrics and make revoke -----------------------------------------------------


def test_the_offline_revocation_row_is_the_one_make_run_prints() -> None:
    snapshot = {
        "decisions": {},
        "reasons": {},
        "latencyMs": None,
        "verifiedTokenCache": None,
        "jwks": {"fetches": 0, "fetchFailures": 0, "staleKeysServed": 0, "keysAvailable": None},
        "revocation": {
            "refreshes": 14,
            "refreshFailures": 0,
            "listAgeSeconds": {"max": 0.012, "last": 0.002},
            "entries": {"max": 2, "last": 2},
        },
        "rejectedLines": 0,
    }
    [line] = [line for line in summary_lines(snapshot) if "revocation" in line]
    assert line in page(OPERATIONS_DOCS).splitlines()


def test_make_revoke_given_pool_and_table_names_no_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    said(
        "Given both `POOL_ID` and `TABLE`, it reads no stack and names none: its line says "
        "`in user pool <pool id> in <region>`, the region being `REGION`, else the pool's own"
    )
    from scripts.revoke import aws_target

    fake_aws(monkeypatch, {})
    assert aws_target("s", None, "eu-west-1_P", "t", "default").where == (
        "user pool eu-west-1_P in eu-west-1"
    )
