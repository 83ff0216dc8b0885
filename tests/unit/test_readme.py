"""The README stays true: every make target, script, event file and variable it names exists, and every
variable the code reads is documented in its text or tables."""
from __future__ import annotations

import ast
import os
import re
import subprocess
from functools import cache

import pytest

from devtools.template import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()


@cache
def make_targets() -> set[str]:
    listed = subprocess.run(["make", "-s", "help"], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    return set(re.findall(r"make (\S+)", listed.stdout))


@pytest.mark.parametrize("target", sorted(set(re.findall(r"\bmake (?:-s )?([a-z]+)\b", README))))
def test_every_make_target_the_readme_names_exists(target: str) -> None:
    assert target in make_targets()


@pytest.mark.parametrize("command", sorted(set(re.findall(r"`(bin/[a-z_/-]+)", README))))
def test_every_script_the_readme_names_is_executable(command: str) -> None:
    assert os.access(REPO_ROOT / command, os.X_OK)


@pytest.mark.parametrize("event", sorted(set(re.findall(r"(events/[a-z0-9-]+\.json)", README))))
def test_every_event_file_the_readme_names_exists(event: str) -> None:
    assert (REPO_ROOT / event).is_file()


# The README's prose and tables: what its code blocks hold (commands, comments in them) documents nothing.
README_TEXT = re.sub(r"^```.*?^```", "", README, flags=re.DOTALL | re.MULTILINE)
VARIABLE = re.compile(r"CRUDDUR_[A-Z][A-Z_]*")


@cache
def variables_in_code() -> set[str]:
    """The ``CRUDDUR_*`` names that devtools/ and bench/ spell as string literals (what ``os.environ`` is asked
    for), not those only named in a comment or a docstring."""
    names = set()
    for path in [*(REPO_ROOT / "devtools").rglob("*.py"), *(REPO_ROOT / "bench").rglob("*.py")]:
        tree = ast.parse(path.read_text())
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                      and node.body and isinstance(node.body[0], ast.Expr)}
        names |= {node.value for node in ast.walk(tree)
                  if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
                  and VARIABLE.fullmatch(node.value)}
    return names


def test_the_code_reads_the_local_stacks_variables() -> None:
    assert {"CRUDDUR_API_PORT", "CRUDDUR_LOCAL_DIR", "CRUDDUR_STACK_FILE"} <= variables_in_code()


@pytest.mark.parametrize("variable", sorted(set(VARIABLE.findall(README))))
def test_every_variable_the_readme_names_is_read_by_the_code(variable: str) -> None:
    assert variable in variables_in_code(), f"{variable} is documented but nothing reads it"


@pytest.mark.parametrize("variable", sorted(variables_in_code()))
def test_every_variable_the_code_reads_is_documented_in_the_readme(variable: str) -> None:
    assert re.search(rf"(?<![A-Z_]){variable}(?![A-Z_])", README_TEXT), \
        f"{variable} is read by the code but the README's text and tables do not name it"


def test_the_readme_lists_every_function_of_the_template() -> None:
    from devtools.template import load_template

    functions = [logical_id for logical_id, resource in load_template()["Resources"].items()
                 if resource["Type"] == "AWS::Serverless::Function"]
    assert functions and all(logical_id in README for logical_id in functions)
