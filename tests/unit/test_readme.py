"""The README stays an entry point and true: at most 300 lines, every function of the template named, and every
variable the code reads documented (in its text and tables or in docs/'s). What the pages name (make targets,
scripts, event files, links) is held for the README and docs/ alike by tests/unit/test_docs.py."""
from __future__ import annotations

import ast
import re
from functools import cache

import pytest

from devtools.template import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()
DOCS = sorted((REPO_ROOT / "docs").glob("*.md"))
README_MAX_LINES = 300


def test_the_readme_is_an_entry_point_of_at_most_300_lines() -> None:
    assert 0 < len(README.splitlines()) <= README_MAX_LINES


# The prose and tables of the README and docs/: what their code blocks hold (commands, comments in them) documents
# nothing.
PAGES = [README, *(path.read_text() for path in DOCS)]
PAGES_TEXT = "\n".join(re.sub(r"^```.*?^```", "", page, flags=re.DOTALL | re.MULTILINE) for page in PAGES)
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


@pytest.mark.parametrize("variable", sorted(set(VARIABLE.findall("\n".join(PAGES)))))
def test_every_variable_the_readme_or_docs_name_is_read_by_the_code(variable: str) -> None:
    assert variable in variables_in_code(), f"{variable} is documented but nothing reads it"


@pytest.mark.parametrize("variable", sorted(variables_in_code()))
def test_every_variable_the_code_reads_is_documented_in_the_readme_or_docs(variable: str) -> None:
    assert re.search(rf"(?<![A-Z_]){variable}(?![A-Z_])", PAGES_TEXT), \
        f"{variable} is read by the code but neither the README's nor docs/'s text and tables name it"


def test_the_readme_lists_every_function_of_the_template() -> None:
    from devtools.template import load_template

    functions = [logical_id for logical_id, resource in load_template()["Resources"].items()
                 if resource["Type"] == "AWS::Serverless::Function"]
    assert functions and all(logical_id in README for logical_id in functions)
