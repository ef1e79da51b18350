"""docs/configuration.md is the one settings reference, checked against the code and the templates.

Nothing here lists a setting by hand. The environment variables are the names
the code under authorizer/ and shared/ reads (found in its syntax tree), and
what each one does is observed by running the configuration loaders (the
authorizer's and the sign-out function's) on it: who reads it, its default,
its range or values. The template parameters are those of every template,
with their Default, AllowedValues, MinValue and MaxValue, and the variables
the application turns them into. A setting added to the code or a template
without its row, a row for a setting that is gone, or a default, range or
value list that disagrees, fails here; so do the parameters' descriptions,
the sixth copy, where they restate a default, a range, which settings
``UserPools`` replaces, or how the cache and tracing work.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any, Final

import pytest

from authorizer.api.settings import load_cold_start
from authorizer.signout import connections, hangup
from authorizer.signout.handler import load_settings
from authorizer.verification.config import ONE_POOL_VARIABLES
from local.cfn import load_template
from shared.exceptions import ConfigurationError
from tests.docs.pages import ROOT, page, table_rows
from tests.helpers import BASE_ENV

REFERENCE: Final = "docs/configuration.md"
TEMPLATES: Final = (
    "template.yaml",
    "template-rest.yaml",
    "authorizer/template.yaml",
    "template-websocket.yaml",
    *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "examples").glob("*.yaml")),
)
APPLICATION: Final = "authorizer/template.yaml"
# A working environment for every function, so that one variable's effect shows alone.
BASE: Final = {
    "USER_POOL_ID": BASE_ENV["USER_POOL_ID"],
    "APP_CLIENT_IDS": BASE_ENV["APP_CLIENT_IDS"],
    "REVOCATION_TABLE": "revocations",
    "CONNECTIONS_TABLE": "connections",
    "CONNECTIONS_ENDPOINT": "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/prod",
}
# Values that any variable read as a setting reacts to: refused, or taken.
PROBES: Final = (
    "!",
    "100",
    "x1",
    "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/prod2",
    "route.request.header.x",
)
NOT_A_VALUE: Final = "not-one-of-them"


# --- the environment variables the code reads -----------------------------------------


def _reads_environment(node: ast.expr) -> bool:
    """``env``, ``environ`` or ``os.environ``: where the code reads its settings from."""
    if isinstance(node, ast.Name):
        return node.id in ("env", "environ")
    return isinstance(node, ast.Attribute) and node.attr == "environ"


def _name(node: ast.expr) -> str | None:
    if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
        return None
    return node.value if re.fullmatch(r"[A-Z][A-Z0-9_]+", node.value) else None


def variables_read(tree: ast.AST) -> set[str]:
    """``env.get("X")``, ``env["X"]``, ``os.environ.get("X")``, and ``f(env, "X", ...)``."""
    names: set[str] = set()
    for node in ast.walk(tree):
        found = None
        if isinstance(node, ast.Subscript) and _reads_environment(node.value):
            found = _name(node.slice)
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr == "get":
                if _reads_environment(func.value):
                    found = _name(node.args[0])
            elif len(node.args) > 1 and _reads_environment(node.args[0]):
                found = _name(node.args[1])
        if found:
            names.add(found)
    return names


@cache
def code_variables() -> frozenset[str]:
    sources = [*(ROOT / "authorizer").rglob("*.py"), *(ROOT / "shared").rglob("*.py")]
    found: set[str] = set()
    for path in sources:
        found |= variables_read(ast.parse(path.read_text(), str(path)))
    return frozenset(found)


def test_the_reader_finds_every_form_of_read() -> None:
    tree = ast.parse(
        'env.get("A_1"); env["BB"]; os.environ.get("CC"); f(env, "DD", 1); other.get("EE"); '
        'g(x, "FF"); env.get(name)'
    )
    assert variables_read(tree) == {"A_1", "BB", "CC", "DD"}


# --- what the loaders do with a variable -------------------------------------------------

Loader = Callable[[Mapping[str, str]], Any]


# Each function's cold-start loader, by the name the reference's "read by" column uses.
LOADERS: Final[dict[str, Loader]] = {
    "authorizer": load_cold_start,
    "sign-out": load_settings,
    "connections": connections.load_settings,
    "hang-up": hangup.load_settings,
}
# "both": the authorizer and the sign-out function, which share the revocation list.
BOTH: Final = frozenset({"authorizer", "sign-out"})


def outcome(loader: Loader, env: Mapping[str, str]) -> tuple[str, Any]:
    try:
        return "ok", loader(env)
    except ConfigurationError as err:
        return "refused", (err.variable, str(err))


def refuses(loader: Loader, env: Mapping[str, str], variable: str) -> bool:
    result = outcome(loader, env)
    return result[0] == "refused" and result[1][0] == variable


def without(env: Mapping[str, str], variable: str) -> dict[str, str]:
    return {k: v for k, v in env.items() if k != variable}


@cache
def readers(variable: str) -> frozenset[str]:
    """The functions whose configuration reacts to the variable (in the setting it is
    required in, when its row names one)."""
    base = {**without(BASE, variable), **(required_context(variable_rows()[variable][2]) or {})}
    return frozenset(
        name
        for name, loader in LOADERS.items()
        if any(outcome(loader, {**base, variable: p}) != outcome(loader, base) for p in PROBES)
    )


# --- the reference's rows ---------------------------------------------------------------


def backticked(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def row_name(row: list[str]) -> str:
    [name] = backticked(row[0])
    return name


@cache
def rows_by_name(header: str) -> dict[str, list[str]]:
    """The reference's rows under tables headed ``header``, by the setting each names once."""
    rows = table_rows(page(REFERENCE), header)
    names = [row_name(row) for row in rows]
    assert len(names) == len(set(names)), f"a {header} has two rows"
    return {row_name(row): row for row in rows}


def variable_rows() -> dict[str, list[str]]:
    return rows_by_name("variable")


def parameter_rows() -> dict[str, list[str]]:
    return rows_by_name("parameter")


def settings_rows() -> Iterator[tuple[str, list[str]]]:
    """The variables a user sets (the five-column table, not the ones Lambda sets)."""
    for name, row in variable_rows().items():
        if len(row) == 5:
            yield name, row


def test_every_variable_the_code_reads_has_one_row_and_no_row_is_extra() -> None:
    assert set(variable_rows()) == code_variables()
    assert {"USER_POOL_ID", "REFRESH_TOKEN_VALIDITY_DAYS", "LOG_LEVEL"} <= code_variables()
    assert {"WEBSOCKET_IDENTITY_SOURCE", "CONNECTIONS_TABLE", "CONNECTIONS_ENDPOINT"} <= (
        code_variables()
    )


@pytest.mark.parametrize("variable", sorted(name for name, _ in settings_rows()))
def test_who_reads_each_variable(variable: str) -> None:
    cell = variable_rows()[variable][1]
    expected = BOTH if cell == "both" else frozenset(cell.split(", "))
    assert readers(variable) == expected, f"{variable}: {cell}"


def test_the_variables_lambda_sets_are_read_by_no_loader() -> None:
    lambdas = [name for name, row in variable_rows().items() if len(row) == 3]
    assert lambdas
    for name in lambdas:
        assert name.startswith("AWS_LAMBDA_")
        assert not readers(name)


def required_context(cell: str) -> dict[str, str] | None:
    """``required`` or ``required with `X=v```: the environment it is required in."""
    match = re.fullmatch(r"required(?: with `(\w+)=(\w+)`)?", cell)
    if not match:
        return None
    return {match[1]: match[2]} if match[1] else {}


@pytest.mark.parametrize("variable", sorted(name for name, _ in settings_rows()))
def test_each_variables_default(variable: str) -> None:
    cell = variable_rows()[variable][2]
    base = {**without(BASE, variable)}
    context = required_context(cell)
    for name in readers(variable):
        loader = LOADERS[name]
        if context is not None:
            assert refuses(loader, {**base, **context}, variable), variable
            continue
        unset = outcome(loader, base)
        if cell == "empty":
            assert unset == outcome(loader, {**base, variable: ""}), variable
        elif cell.startswith("`") and "<" not in backticked(cell)[0]:
            assert unset == outcome(loader, {**base, variable: backticked(cell)[0]}), variable
        else:
            assert variable in ("ISSUER", "JWKS_URL"), f"{variable}: a default in words: {cell}"


def range_of(cell: str) -> tuple[str | int, int] | None:
    match = re.fullmatch(r"(?:from `(\w+)`|(\d+)) to (\d+)", cell)
    if not match:
        return None
    return (match[1] or int(match[2])), int(match[3])


@pytest.mark.parametrize("variable", sorted(name for name, _ in settings_rows()))
def test_each_variables_range_or_values(variable: str) -> None:
    cell = variable_rows()[variable][3]
    base = without(BASE, variable)
    for name in readers(variable):
        loader = LOADERS[name]
        numeric = refuses(loader, {**base, variable: "abc"}, variable) and not refuses(
            loader, {**base, variable: "100"}, variable
        )
        bounds = range_of(cell)
        if numeric:
            assert bounds, f"{variable} takes a number: its range is missing"
        if bounds:
            bound, high = bounds
            low = 20 if isinstance(bound, str) else bound
            if isinstance(bound, str):  # bounded below by another setting, set to 20
                base = {**base, bound: str(low)}
            for value in (low, high):
                assert not refuses(loader, {**base, variable: str(value)}, variable), value
            for value in (low - 1, high + 1):
                assert refuses(loader, {**base, variable: str(value)}, variable), value
            assert outcome(loader, {**base, variable: str(low)}) != outcome(
                loader, {**base, variable: str(high)}
            ), f"{variable} is read, but makes no difference"
        elif cell:
            values = backticked(cell)
            assert values, cell
            assert ", ".join(f"`{v}`" for v in values) == cell, cell
            for allowed in values:
                assert not refuses(loader, {**base, variable: allowed}, variable), allowed
            assert refuses(loader, {**base, variable: NOT_A_VALUE}, variable)


# --- the template parameters ------------------------------------------------------------


@cache
def templates() -> dict[str, dict[str, Any]]:
    return {name: load_template(ROOT / name) for name in TEMPLATES}


def parameters() -> dict[str, dict[str, dict[str, Any]]]:
    """Each parameter name, with its declaration in each template that has it."""
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for name, template in templates().items():
        for parameter, spec in template.get("Parameters", {}).items():
            found.setdefault(parameter, {})[name] = spec
    return found


def refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        if set(node) == {"Ref"}:
            return {node["Ref"]}
        return set().union(*(refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(refs(v) for v in node))
    return set()


def conditions_of(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["Fn::If"][0]} if "Fn::If" in node else set()
        return found.union(*(conditions_of(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(conditions_of(v) for v in node))
    return set()


@cache
def variables_set() -> dict[str, frozenset[str]]:
    """Each application parameter, and the function variables it becomes.

    A variable's parameters are those it names with ``Ref``, or else those of
    the conditions it chooses by (``REVOCATION_TABLE`` follows ``Revocation``).
    """
    app = templates()[APPLICATION]
    declared = set(app["Parameters"])
    found: dict[str, set[str]] = {}
    for resource in app["Resources"].values():
        environment = resource.get("Properties", {}).get("Environment", {})
        for variable, value in environment.get("Variables", {}).items():
            named = refs(value) & declared
            if not named:
                named = set().union(*(refs(app["Conditions"][c]) for c in conditions_of(value)))
                named &= declared
            for parameter in named:
                found.setdefault(parameter, set()).add(variable)
    return {parameter: frozenset(variables) for parameter, variables in found.items()}


def rendered(spec: dict[str, Any]) -> str:
    if "Default" not in spec:
        return "none: required"
    default = str(spec["Default"])
    return "empty" if default == "" else f"`{default}`"


def test_every_parameter_of_every_template_has_one_row_and_no_row_is_extra() -> None:
    assert set(parameter_rows()) == set(parameters())


@pytest.mark.parametrize("parameter", sorted(parameters()))
def test_each_parameters_default_range_and_variable(parameter: str) -> None:
    _, default, limits, sets, _ = parameter_rows()[parameter]
    declared = parameters()[parameter]
    defaults = {rendered(spec) for spec in declared.values()}
    if len(defaults) == 1:
        assert default == defaults.pop(), parameter
    else:
        expected = "; ".join(f"{rendered(spec)} ({name})" for name, spec in declared.items())
        assert default == expected, parameter
    for spec in declared.values():
        if "AllowedValues" in spec:
            assert limits == ", ".join(f"`{v}`" for v in spec["AllowedValues"]), parameter
        elif "MinValue" in spec and "MaxValue" in spec:
            assert limits == f"{spec['MinValue']} to {spec['MaxValue']}", parameter
        elif "MinValue" in spec:
            assert limits == f"at least {spec['MinValue']}", parameter
        else:
            assert limits == "", parameter
    assert set(backticked(sets)) == set(variables_set().get(parameter, ())), parameter


def one_pool_parameters() -> set[str]:
    """The parameters that become the one-pool variables, which USER_POOLS replaces."""
    return {p for p, vs in variables_set().items() if vs & set(ONE_POOL_VARIABLES)}


def replaced(text: str) -> set[str]:
    match = re.search(r"[Rr]eplaces ([^.;:(]+)", text)
    assert match, text
    return set(re.findall(r"[A-Z][A-Za-z]+", match[1]))


def test_user_pools_replaces_the_same_settings_everywhere() -> None:
    expected = one_pool_parameters()
    assert expected == {"UserPoolId", "AppClientIds", "TokenUse", "ReplicaRegions"}
    assert replaced(parameter_rows()["UserPools"][4]) == expected
    for name, spec in parameters()["UserPools"].items():
        assert replaced(spec["Description"]) == expected, name


def identity_of(template: dict[str, Any]) -> set[str]:
    """The identity sources of the authorizer that AuthorizerCacheTtlSeconds sets the TTL of."""
    for resource in template["Resources"].values():
        auth = resource.get("Properties", {}).get("Auth", {})
        for authorizer in auth.get("Authorizers", {}).values():
            identity = authorizer.get("Identity", {})
            if "AuthorizerCacheTtlSeconds" in refs(identity.get("ReauthorizeEvery")):
                return {*identity.get("Headers", ()), identity.get("Header", "")} | {
                    *identity.get("Context", ())
                }
    raise AssertionError("no authorizer takes AuthorizerCacheTtlSeconds")


@pytest.mark.parametrize("name", sorted(parameters()["AuthorizerCacheTtlSeconds"]))
def test_the_cache_ttl_says_what_it_is_cached_per(name: str) -> None:
    description = " ".join(parameters()["AuthorizerCacheTtlSeconds"][name]["Description"].split())
    identity = identity_of(templates()[name])
    assert "Authorization" in identity
    per = "per token and route" if "routeKey" in identity else "per token;"
    assert per in description, (name, description)


def test_tracing_is_described_one_way() -> None:
    doc = parameter_rows()["Tracing"][4].replace("`", "")
    [sentence] = [s.strip() for s in re.findall(r"PassThrough [^;.()]+", doc)]
    for name, spec in parameters()["Tracing"].items():
        assert sentence in " ".join(spec["Description"].split()), name


@pytest.mark.parametrize("parameter", sorted(parameters()))
def test_descriptions_restate_no_other_default_or_range(parameter: str) -> None:
    for name, spec in parameters()[parameter].items():
        description = " ".join(spec["Description"].split())
        for said in re.findall(r"(\w+) \(the default\)", description):
            assert rendered(spec).strip("`") in (said.lower(), said), (name, said)
        for low, high in re.findall(r"\b(\d+) to (\d+)\b", description):
            assert (int(low), int(high)) == (spec.get("MinValue"), spec.get("MaxValue")), name
        assert "README" not in description, f"{name} {parameter}: the docs are in docs/"
        for cited in re.findall(r"docs/[\w-]+\.md", description):
            assert (ROOT / cited).is_file(), (name, cited)


def test_the_variables_no_template_sets_are_named() -> None:
    [sentence] = re.findall(r"No template sets (.*?):", page(REFERENCE), flags=re.S)
    app = templates()[APPLICATION]
    set_by_templates = {
        variable
        for resource in app["Resources"].values()
        for variable in resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
    }
    users = {name for name, _ in settings_rows()}
    assert set(backticked(sentence)) == users - set_by_templates


def test_the_reference_names_its_test() -> None:
    assert Path(__file__).relative_to(ROOT).as_posix() in page(REFERENCE)
