"""The README stays true: every make target, script, event file and variable it names exists."""
from __future__ import annotations

import os
import re
import subprocess

import pytest

from devtools.template import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()


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


@pytest.mark.parametrize("variable", sorted(set(re.findall(r"`(CRUDDUR_[A-Z_]+)`", README))))
def test_every_variable_the_readme_names_is_read_by_the_code(variable: str) -> None:
    sources = [path for path in (REPO_ROOT / "devtools").rglob("*.py") if variable in path.read_text()]
    assert sources, f"{variable} is documented but nothing reads it"


def test_the_readme_lists_every_function_of_the_template() -> None:
    from devtools.template import load_template

    functions = [logical_id for logical_id, resource in load_template()["Resources"].items()
                 if resource["Type"] == "AWS::Serverless::Function"]
    assert functions and all(logical_id in README for logical_id in functions)
