"""`sam build` produces Lambda artifacts for python3.13 on arm64 holding only what runs:
for the demo (template.yaml, whose authorizer is the nested application's, built
into the application's own directory) and for the authorizer application alone.

Needs the package registry (pip downloads the aarch64 wheels); CI has it.
"""

from __future__ import annotations

import hashlib
import http.server
import importlib.util
import json
import os
import re
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from local.cfn import load_template
from tests.deploy.samtemplate import (
    APP_TEMPLATE,
    BUILT_ARTIFACTS,
    EM_AARCH64,
    ROOT,
    TEMPLATE,
    artifact_report,
    elf_machine,
    load_app_template,
    load_sam_template,
    offline_aws_env,
    run_tool,
    tree_size,
)
from tests.forge import forged_key, jwks_body
from tests.imports import imported_packages

BIN = Path(sys.executable).parent

# Distributions the authorizer may ship: its requirements and what they pull in.
AUTHORIZER_DISTRIBUTIONS = {
    "pyjwt",
    "cryptography",
    "cffi",
    "pycparser",
    "requests",
    "urllib3",
    "idna",
    "charset-normalizer",
    "certifi",
    "cachetools",
}
# Development tools, by import name: none of them may ever be in an artifact.
DEV_TOOLS = {
    "pytest",
    "_pytest",
    "hypothesis",
    "responses",
    "moto",
    "boto3",
    "botocore",
    "s3transfer",
    "samcli",
    "samtranslator",
    "aws_lambda_builders",
    "cfnlint",
    "ruff",
    "mypy",
    "yaml",
    "flask",
    "werkzeug",
    "docker",
    "pydantic",
    "pip",
    "setuptools",
    "tests",
    "local",
}


@pytest.fixture(scope="module")
def pool_jwks() -> Iterator[str]:
    """A user pool's JWKS endpoint on loopback, for the build to bake."""
    body = jwks_body(forged_key("baked-kid"))

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/pool/.well-known/jwks.json"
    finally:
        server.shutdown()
        server.server_close()


def artifact_of(build_dir: Path, logical_id: str) -> Path:
    return build_dir / BUILT_ARTIFACTS[logical_id]


def sam_build(tmp: Path, template: Path, pool_jwks: str) -> Path:
    """One real `sam build` of ``template``, with the repository's samconfig.toml."""
    build = tmp / "build"
    env = {**offline_aws_env(tmp), "BAKE_JWKS_URL": pool_jwks}
    started = time.monotonic()
    result = run_tool(
        [
            str(BIN / "sam"),
            "build",
            "--template-file",
            str(template),
            "--build-dir",
            str(build),
            # found beside the template otherwise: none beside authorizer/ or examples/
            "--config-file",
            str(ROOT / "samconfig.toml"),
        ],
        env,
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Build Succeeded" in result.stdout + result.stderr
    # Building in source keeps this fast: a scratch copy would drag .venv along.
    assert elapsed < 120, f"sam build took {elapsed:.0f} s"
    return build


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory, pool_jwks: str) -> Path:
    """The demo built: its greeter, and the nested application with the authorizer."""
    return sam_build(tmp_path_factory.mktemp("sam"), TEMPLATE, pool_jwks)


def top_level(artifact: Path) -> set[str]:
    return {p.name for p in artifact.iterdir()}


def distributions(artifact: Path) -> set[str]:
    return {
        p.name.removesuffix(".dist-info").rsplit("-", 1)[0].lower().replace("_", "-")
        for p in artifact.glob("*.dist-info")
    }


DEPLOYABLE = [
    TEMPLATE,
    ROOT / "template-rest.yaml",
    APP_TEMPLATE,
    ROOT / "examples" / "http-api.yaml",
    ROOT / "examples" / "rest-api.yaml",
]


@pytest.mark.parametrize("template", DEPLOYABLE, ids=lambda p: str(p.relative_to(ROOT)))
def test_each_function_builds_from_its_package_folder_with_the_root_makefile(
    template: Path,
) -> None:
    """What sam build copies is CodeUri (to a scratch dir, unless built in source): the
    function's package, never the repository root with its .venv. Its Makefile, where
    sam build looks for it, is the repository's."""
    for name, resource in load_template(template)["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        code = (template.parent / resource["Properties"]["CodeUri"]).resolve()
        package = resource["Properties"]["Handler"].split(".")[0]
        assert code == ROOT / package, name
        assert (code / "__init__.py").is_file()
        assert resource["Metadata"]["BuildMethod"] == "makefile"
        included = "include $(dir $(lastword $(MAKEFILE_LIST)))../Makefile\n"
        assert (code / "Makefile").read_text().endswith(included)


def test_the_application_builds_from_a_clone_without_copying_the_root(
    tmp_path: Path, pool_jwks: str, build_dir: Path
) -> None:
    """`sam build -t authorizer/template.yaml` as a clone runs it: no samconfig.toml (so
    no build in source), each function's CodeUri copied to a scratch dir. What is copied
    is the authorizer package, a few hundred KB; the artifacts are the usual ones."""
    build = tmp_path / "build"
    env = {**offline_aws_env(tmp_path), "BAKE_JWKS_URL": pool_jwks}
    command = [str(BIN / "sam"), "build", "--template-file", str(APP_TEMPLATE)]
    result = run_tool([*command, "--build-dir", str(build)], env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    copied = dict(
        (found[2], Path(found[1]))
        for found in re.finditer(r"Building codeuri: (\S+) .* functions: (\w+)", output)
    )
    # sam build builds every function, whatever the conditions deploy.
    assert copied == {
        function: ROOT / "authorizer"
        for function in (
            "AuthorizerFunction",
            "SignOutFunction",
            "ConnectionsFunction",
            "HangUpFunction",
        )
    }
    # A scratch copy each.
    assert output.count("Running CustomMakeBuilder:CopySource") == len(copied)
    assert not (ROOT / "authorizer" / ".venv").exists()
    assert tree_size(ROOT / "authorizer") < 2 * 1024 * 1024

    def files(artifact: Path) -> set[str]:
        return {str(p.relative_to(artifact)) for p in artifact.rglob("*") if p.is_file()}

    for function in copied:
        assert files(build / function) == files(artifact_of(build_dir, function))


def test_samconfig_builds_in_source_and_deploys_with_sensible_defaults():
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())["default"]
    assert config["build"]["parameters"]["build_in_source"] is True
    deploy = config["deploy"]["parameters"]
    # IAM roles, and the nested authorizer application (a template with a transform)
    assert deploy["capabilities"] == "CAPABILITY_IAM CAPABILITY_AUTO_EXPAND"
    alone = tomllib.loads((ROOT / "samconfig.toml").read_text())["authorizer"]
    assert alone["deploy"]["parameters"]["capabilities"] == "CAPABILITY_IAM"
    assert deploy["resolve_s3"] is True
    assert deploy["confirm_changeset"] is True
    assert config["global"]["parameters"]["region"] == "us-east-1"
    assert config["global"]["parameters"]["stack_name"]


def test_built_template_points_each_function_at_its_own_artifact(build_dir):
    from samtranslator.yaml_helper import yaml_parse

    built = yaml_parse((build_dir / "template.yaml").read_text())
    assert built["Resources"]["GreeterFunction"]["Properties"]["CodeUri"] == "GreeterFunction"
    # The nested application: its built template beside its built function, which
    # `sam deploy` uploads (template and artifact) as it does the demo's own.
    application = built["Resources"]["Authorizer"]["Properties"]
    assert application["Location"] == "Authorizer/template.yaml"
    nested = yaml_parse((build_dir / "Authorizer" / "template.yaml").read_text())
    function = nested["Resources"]["AuthorizerFunction"]["Properties"]
    assert function["CodeUri"] == "AuthorizerFunction"
    assert "AuthorizerFunction" not in built["Resources"]  # defined once, in the application
    for logical_id in BUILT_ARTIFACTS:
        assert artifact_of(build_dir, logical_id).is_dir()


def test_the_application_alone_builds_its_authorizer_and_nothing_else(
    tmp_path_factory: pytest.TempPathFactory, pool_jwks: str, build_dir: Path
) -> None:
    alone = sam_build(tmp_path_factory.mktemp("sam-app"), APP_TEMPLATE, pool_jwks)
    # sam build builds every function, whatever its Condition: the sign-out and the
    # WebSocket connections and hang-up functions too (Revocation, ApiType websocket).
    assert {p.name for p in alone.iterdir()} == {
        "template.yaml",
        "AuthorizerFunction",
        "SignOutFunction",
        "ConnectionsFunction",
        "HangUpFunction",
    }
    nested = artifact_of(build_dir, "AuthorizerFunction")
    # the same artifact whether nested or alone (the baked key set has its own fetch time)

    def files(artifact: Path) -> set[str]:
        return {str(p.relative_to(artifact)) for p in artifact.rglob("*") if p.is_file()}

    assert files(alone / "AuthorizerFunction") == files(nested)


@pytest.mark.parametrize(
    "logical_id",
    [
        "AuthorizerFunction",
        "GreeterFunction",
        "SignOutFunction",
        "ConnectionsFunction",
        "HangUpFunction",
    ],
)
def test_artifact_holds_its_handler_and_shared(build_dir, logical_id):
    artifact = artifact_of(build_dir, logical_id)
    resources = {**load_sam_template()["Resources"], **load_app_template()["Resources"]}
    handler = resources[logical_id]["Properties"]["Handler"]
    module, function = handler.rsplit(".", 1)
    source = artifact / (module.replace(".", "/") + ".py")
    assert source.is_file(), f"{handler} has no module in the artifact"
    assert f"def {function}(" in source.read_text()
    package = module.split(".")[0]
    assert (artifact / package / "__init__.py").is_file()
    for name in ("__init__.py", "context.py", "jsonlog.py", "exceptions.py"):
        assert (artifact / "shared" / name).is_file()
    # identical to the sources it was built from
    sources = sorted((ROOT / package).rglob("*.py"))
    assert sources
    for path in sources:
        copy = artifact / path.relative_to(ROOT)
        assert copy.read_bytes() == path.read_bytes(), copy
    # and holding no template: the application's stays out of its artifact
    assert list(artifact.rglob("*.yaml")) == []


def test_greeter_artifact_is_its_package_and_shared_only(build_dir):
    artifact = artifact_of(build_dir, "GreeterFunction")
    assert top_level(artifact) == {"greeter", "shared"}
    assert "authorizer" not in top_level(artifact)
    # and it runs from the artifact alone (stdlib only): import it in isolation
    printed = run_from_artifact(
        artifact,
        "import sys; sys.path[:0] = [sys.argv[1]]; import greeter.app as m;"
        " assert m.__file__.startswith(sys.argv[1]); print(m.lambda_handler.__name__)",
    )
    assert printed == "lambda_handler"


def run_from_artifact(artifact: Path, code: str) -> str:
    """What ``code`` prints in an isolated interpreter given the artifact's path (stdlib only)."""
    result = subprocess.run(
        [
            sys.executable,
            "-I",
            "-B",  # leave no __pycache__ behind in the artifact
            "-c",
            code,
            str(artifact),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"LOG_LEVEL": "INFO", "PATH": os.environ.get("PATH", "")},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize(
    ("logical_id", "module"),
    [
        ("SignOutFunction", "authorizer.signout.handler"),
        ("ConnectionsFunction", "authorizer.signout.connections"),
        ("HangUpFunction", "authorizer.signout.hangup"),
    ],
)
def test_the_sign_out_artifacts_are_the_authorizers_code_without_its_wheels(
    build_dir, logical_id, module
):
    artifact = artifact_of(build_dir, logical_id)
    assert top_level(artifact) == {"authorizer", "shared"}
    assert not (artifact / "authorizer" / "requirements.txt").exists()
    # Its handler imports from the artifact alone (boto3 is the Lambda runtime's, and
    # is imported only once the clients are made): never PyJWT, never cryptography.
    printed = run_from_artifact(
        artifact,
        f"import sys; sys.path[:0] = [sys.argv[1]]; import {module} as m;"
        " assert m.__file__.startswith(sys.argv[1]);"
        " print(sorted(n for n in ('jwt', 'cryptography', 'requests') if n in sys.modules))",
    )
    assert printed == "[]"


def test_authorizer_artifact_holds_its_runtime_dependencies_and_nothing_else(build_dir):
    artifact = artifact_of(build_dir, "AuthorizerFunction")
    assert distributions(artifact) == AUTHORIZER_DISTRIBUTIONS
    names = top_level(artifact)
    assert {"authorizer", "shared", "jwt", "cryptography", "requests", "cachetools"} <= names
    # greeter is another function.
    assert "greeter" not in names
    # every other top-level entry belongs to one of the shipped distributions
    recorded: set[str] = set()
    for dist_info in artifact.glob("*.dist-info"):
        for line in (dist_info / "RECORD").read_text().splitlines():
            recorded.add(line.split(",", 1)[0].split("/", 1)[0])
    stray = names - recorded - {"authorizer", "shared"}
    assert stray == set(), f"unexpected entries: {sorted(stray)}"


@pytest.mark.parametrize(
    "logical_id",
    [
        "AuthorizerFunction",
        "GreeterFunction",
        "SignOutFunction",
        "ConnectionsFunction",
        "HangUpFunction",
    ],
)
def test_no_dev_tools_tests_caches_or_scripts_in_the_artifact(build_dir, logical_id):
    artifact = artifact_of(build_dir, logical_id)
    assert top_level(artifact) & DEV_TOOLS == set()
    assert not (artifact / "bin").exists()
    leftovers = [
        p.relative_to(artifact)
        for p in artifact.rglob("*")
        if p.name in {"tests", "test", "conftest.py", "requirements.txt"}
    ]
    assert leftovers == []
    unzipped_limit = 250 * 1024 * 1024  # Lambda's limit; we should be far below it
    assert tree_size(artifact) < unzipped_limit // 10


def shipped_from(directories: list[Path]) -> dict[bytes, Path]:
    """Our non-empty files under ``directories``, by content hash."""
    return {
        hashlib.sha256(path.read_bytes()).digest(): path
        for directory in directories
        for path in directory.rglob("*")
        if path.is_file() and path.stat().st_size and "__pycache__" not in path.parts
    }


@pytest.mark.parametrize(
    "logical_id",
    [
        "AuthorizerFunction",
        "GreeterFunction",
        "SignOutFunction",
        "ConnectionsFunction",
        "HangUpFunction",
    ],
)
def test_no_emulator_or_test_code_in_the_artifact(build_dir, logical_id):
    artifact = artifact_of(build_dir, logical_id)
    assert top_level(artifact) & {"local", "tests"} == set()
    offline_only = shipped_from([ROOT / "local", ROOT / "tests"])
    files = [p for p in artifact.rglob("*") if p.is_file()]
    copied = {
        str(p.relative_to(artifact)): str(offline_only[digest].relative_to(ROOT))
        for p in files
        if (digest := hashlib.sha256(p.read_bytes()).digest()) in offline_only
    }
    assert copied == {}
    importers = [
        str(p.relative_to(artifact))
        for p in files
        if p.suffix == ".py" and "local" in imported_packages(p.read_bytes())
    ]
    assert importers == []


def bytecode_problems(artifact: Path) -> list[str]:
    """Modules without valid python3.13 bytecode, and bytecode without its module.

    Valid: a checked-hash pyc (PEP 552 flags 0b11) with CPython 3.13's magic
    number and the hash of the very source beside it, which the runtime loads
    however the zip set the files' times.
    """
    problems = []
    for source in sorted(artifact.rglob("*.py")):
        pyc = source.parent / "__pycache__" / f"{source.stem}.cpython-313.pyc"
        if not pyc.is_file():
            problems.append(f"{source.relative_to(artifact)}: no bytecode")
            continue
        header = pyc.read_bytes()[:16]
        if (
            header[:4] != importlib.util.MAGIC_NUMBER
            or int.from_bytes(header[4:8], "little") != 0b11
            or header[8:] != importlib.util.source_hash(source.read_bytes())
        ):
            problems.append(f"{pyc.relative_to(artifact)}: not checked-hash bytecode of its source")
    for pyc in artifact.rglob("*.pyc"):
        stem = pyc.name.removesuffix(".cpython-313.pyc")
        if pyc.parent.name != "__pycache__" or not (pyc.parent.parent / f"{stem}.py").is_file():
            problems.append(f"{pyc.relative_to(artifact)}: no module of its own")
    return problems


@pytest.mark.parametrize(
    "logical_id",
    [
        "AuthorizerFunction",
        "GreeterFunction",
        "SignOutFunction",
        "ConnectionsFunction",
        "HangUpFunction",
    ],
)
def test_every_module_ships_bytecode_for_python313(build_dir, logical_id):
    artifact = artifact_of(build_dir, logical_id)
    if sys.implementation.cache_tag != "cpython-313":
        # Only a 3.13 writes 3.13 bytecode: the build then ships none at all.
        assert list(artifact.rglob("*.pyc")) == []
        pytest.skip(f"the build ran on {sys.implementation.cache_tag}")
    assert bytecode_problems(artifact) == []


def test_the_greeter_artifact_imports_without_compiling(build_dir):
    """A cold start of the artifact loads its bytecode: no module of it is compiled."""
    if sys.implementation.cache_tag != "cpython-313":
        pytest.skip(f"the build ran on {sys.implementation.cache_tag}")
    artifact = artifact_of(build_dir, "GreeterFunction")
    probe = (
        "import sys, importlib.machinery as m; compiled = []\n"
        "original = m.SourceFileLoader.source_to_code\n"
        "def spy(self, data, path, **kw):\n"
        "    compiled.append(path); return original(self, data, path, **kw)\n"
        "m.SourceFileLoader.source_to_code = spy\n"
        "sys.path[:0] = [sys.argv[1]]; import greeter.app\n"
        "print([p for p in compiled if p.startswith(sys.argv[1])])"
    )
    assert run_from_artifact(artifact, probe) == "[]"


def test_compiled_modules_are_for_aarch64(build_dir):
    artifact = artifact_of(build_dir, "AuthorizerFunction")
    rust = sorted((artifact / "cryptography" / "hazmat" / "bindings").glob("_rust*.so"))
    assert rust, "cryptography's compiled module is missing"
    assert elf_machine(rust[0]) == EM_AARCH64
    # every native module, not only cryptography's (cffi, charset_normalizer)
    machines = {str(so.relative_to(artifact)): elf_machine(so) for so in artifact.rglob("*.so")}
    assert machines
    assert set(machines.values()) == {EM_AARCH64}, machines
    # built for CPython 3.13 (or the stable ABI), never this machine's interpreter
    for so in machines:
        assert ".abi3." in so or "cpython-313-aarch64" in so, so


def test_artifact_report(build_dir, capsys):
    reports = [
        artifact_report(artifact_of(build_dir, lid))
        for lid in ("AuthorizerFunction", "GreeterFunction")
    ]
    assert "ELF e_machine=183 (aarch64)" in reports[0]
    with capsys.disabled():
        print("\n\nsam build artifacts:\n" + "\n".join(reports))


def test_build_bakes_the_pools_key_set_into_the_authorizer(build_dir, pool_jwks):
    baked = json.loads(
        (
            artifact_of(build_dir, "AuthorizerFunction") / "authorizer" / "baked_jwks.json"
        ).read_text()
    )
    assert baked["jwksUrl"] == pool_jwks
    assert [key["kid"] for key in baked["jwks"]["keys"]] == ["baked-kid"]
    assert not (artifact_of(build_dir, "GreeterFunction") / "greeter" / "baked_jwks.json").exists()


@pytest.mark.parametrize("example", ["http-api.yaml", "rest-api.yaml"])
def test_each_example_builds_its_backend_and_no_authorizer(
    tmp_path: Path, pool_jwks: str, example: str
) -> None:
    """An example names the authorizer by ARN: its build has only the API's own function."""
    built = sam_build(tmp_path, ROOT / "examples" / example, pool_jwks)
    assert {p.name for p in built.iterdir()} == {"template.yaml", "GreeterFunction"}
    assert top_level(built / "GreeterFunction") == {"greeter", "shared"}
