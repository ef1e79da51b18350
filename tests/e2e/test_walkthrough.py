"""README's "Try it offline" against the real template.yaml, start to Ctrl-C.

The recipe is replayed as written: each ``$`` command of its console blocks runs
in one shell against the stack (on its own free port), and answers what the
README shows, ids aside. A newcomer who follows the README gets what it says.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Final

from tests.docs.pages import section
from tests.e2e.stackproc import ROOT, StackProcess, start_stack_process

TEMPLATE = ROOT / "template.yaml"
RECIPE: Final = section("README.md", "Try it offline")
SHOWN_URL: Final = "http://127.0.0.1:3000"
# What differs from one run to the next: ids, request ids, times, latencies.
VOLATILE: Final = (
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<uuid>"),
    (re.compile(r"us-east-1_[0-9a-f]{32}"), "<pool>"),
    (re.compile(r"\b[0-9a-z]{26}\b"), "<client>"),
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:<port>"),
)


def masked(text: str) -> str:
    for pattern, placeholder in VOLATILE:
        text = pattern.sub(placeholder, text)
    return text


def console_steps(text: str) -> list[tuple[str, str]]:
    """(command, what it printed) for each ``$`` line of the console blocks, ``make run`` aside."""
    steps: list[tuple[str, str]] = []
    for block in re.findall(r"```console\n(.*?)```", text, flags=re.S):
        lines = [line.strip() for line in block.splitlines()]
        index = 0
        while index < len(lines):
            command = lines[index].removeprefix("$ ")
            index += 1
            while command.endswith("\\"):
                command = command[:-1] + " " + lines[index]
                index += 1
            printed = []
            while index < len(lines) and not lines[index].startswith("$ "):
                printed.append(lines[index])
                index += 1
            if command != "make run":
                steps.append((command, "\n".join(printed)))
    return steps


def replay(offline: StackProcess, steps: list[tuple[str, str]], tmp_path: Path) -> list[str]:
    """Run the commands in one shell, as a user types them, and split what each printed."""
    marker = "----8<----"
    script = "".join(
        f"{command.replace(SHOWN_URL, offline.url.rstrip('/'))}\necho; echo '{marker}'\n"
        for command, _ in steps
    )
    done = subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=ROOT,
        env={**os.environ, "STATE_FILE": str(offline.state_file)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [part.strip() for part in done.stdout.split(marker)[: len(steps)]]


def test_the_readme_recipe_on_the_real_template(tmp_path: Path) -> None:
    steps = console_steps(RECIPE)
    assert [command.split()[0] for command, _ in steps] == [
        "curl",
        "TOKEN=$(make",
        "curl",
        "curl",
    ]
    offline = start_stack_process(tmp_path, TEMPLATE)
    try:
        banner = offline.wait_for_output("Offline stack is up", "demo user", "POST /hello")
        # The test names the template by its absolute path; make run, by the relative one.
        banner = masked(banner.replace(f"{ROOT}/", ""))
        [shown_run] = [
            b for b in re.findall(r"```console\n(.*?)```", RECIPE, re.S) if "make run" in b
        ]
        for line in shown_run.splitlines()[1:]:
            if line.strip() and line.strip() != "...":
                assert masked(line.strip()) in banner, line

        assert "(README.md, 'Try it offline')" in banner  # where it sends a newcomer: RECIPE

        printed = replay(offline, steps, tmp_path)
        for (command, shown), got in zip(steps, printed, strict=True):
            assert masked(got) == masked(shown).strip(), command

        # The decision lines the README shows have the fields the authorizer writes.
        shown_lines = re.findall(r"AuthorizerFunction \| (\{.*\})", RECIPE)
        recorded = {json.loads(line)["decision"]: json.loads(line) for line in shown_lines}
        written = {record["decision"]: record for record in offline.decisions()}
        assert set(recorded) == {"allow", "deny"} <= set(written)
        for decision, record in recorded.items():
            assert list(record) == list(written[decision]), decision
            assert record["reason"] == written[decision]["reason"], decision
    finally:
        status = offline.stop()
    assert status == 0, "\n".join(offline.output())
    assert "metrics from the functions' EMF lines" in "\n".join(offline.output())
    assert offline.output()[-1] == "stopped"
    assert not offline.state_file.exists()


def test_the_offline_page_walkthrough_answers_as_recorded(tmp_path: Path) -> None:
    """docs/offline.md's longer session: the answers it records, and the decision behind each."""
    page = section("docs/offline.md", "A session, start to Ctrl-C")
    offline = start_stack_process(tmp_path, TEMPLATE)
    try:
        refused = offline.request(
            "POST", "/hello", json={"firstName": "Brian", "lastName": "Morrison"}
        )
        assert refused.status_code == 401
        assert f"{json.dumps(refused.json())}\n" in page

        token = offline.token("id")
        greeted = offline.request(
            "POST",
            "/hello",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            data='{"firstName": "Brian", "lastName": "Morrison"}',
        )
        assert greeted.status_code == 200, greeted.text
        assert masked(json.dumps(greeted.json())) in masked(page)
        decision = offline.decision_of(greeted.headers["apigw-requestid"])
        assert (decision["decision"], decision["routeKey"]) == ("allow", "POST /hello")
        assert decision["apiRequestId"] == greeted.headers["apigw-requestid"]
    finally:
        status = offline.stop()
    assert status == 0, "\n".join(offline.output())
    assert offline.output()[-1] == "stopped"
