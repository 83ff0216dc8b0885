"""The shared layer as ``sam build`` builds it (layers/shared/Makefile): complete, byte-compiled, without boto3;
the runtime and architecture it is built for, which are the template's; and ``sam build``'s whole artifact for each
architecture, whose every native library must be of that architecture.

Built here into temporary directories with the same make targets and ``sam build`` command the Makefile runs, so
the tests need no earlier build (pip fetches the pinned wheels, or takes them from its cache).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from devtools.functions import LAYER_PATH
from devtools.template import REPO_ROOT, load_template

# PEP 552 flags of a .pyc: bit 0 = hash-based, bit 1 = check_source.
UNCHECKED_HASH_FLAGS = 0b01
# The layer of before had 44 MB of files (its own boto3/botocore, no bytecode); half of it on x86_64 now (20 MB).
# arm64's is 25 MB: psycopg2-binary's aarch64 wheel bundles 16 MB of libraries (libpq, OpenSSL 3 and 1.1, Kerberos,
# LDAP) where the x86_64 one bundles 11 MB; the layer's own modules and their bytecode are under 1 MB of it.
MAX_LAYER_MB = 26


@pytest.fixture(scope="module")
def layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    artifacts = tmp_path_factory.mktemp("SharedLayer")
    subprocess.run(["make", "-s", "-C", str(LAYER_PATH), "build-SharedLayer", f"ARTIFACTS_DIR={artifacts}",
                    f"PYTHON={sys.executable}"], check=True, capture_output=True, text=True,
                   env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    return artifacts / "python"


def test_the_layer_ships_no_boto3_the_runtime_provides_it(layer: Path) -> None:
    assert (layer / "cruddur_messaging" / "http" / "api.py").is_file()
    assert (layer / "aws_lambda_powertools").is_dir() and (layer / "psycopg2").is_dir()
    assert not {"boto3", "botocore", "s3transfer"} & {path.name for path in layer.iterdir()}


def assert_byte_compiled(root: Path) -> None:
    """Every module under ``root`` has an unchecked-hash .pyc for this Python, as a read-only /opt needs."""
    tag = sys.implementation.cache_tag
    sources = list(root.rglob("*.py"))
    assert sources
    for source in sources:
        compiled = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
        assert compiled.is_file(), source
        flags = int.from_bytes(compiled.read_bytes()[4:8], "little")
        assert flags == UNCHECKED_HASH_FLAGS, source


def test_every_module_of_the_layer_is_byte_compiled_for_a_read_only_file_system(layer: Path) -> None:
    assert_byte_compiled(layer)


def test_the_layer_is_far_below_its_old_size(layer: Path) -> None:
    size_mb = sum(path.stat().st_size for path in layer.rglob("*") if path.is_file()) / 1e6
    assert size_mb <= MAX_LAYER_MB


def test_the_authorizer_function_is_built_byte_compiled_with_its_own_wheels(tmp_path: Path) -> None:
    """LiveAuthorizerFunction brings PyJWT and cryptography itself (functions/live_authorizer/Makefile): compiled
    like the layer, or its cold start pays for compiling them."""
    function_dir = LAYER_PATH.parents[1] / "functions" / "live_authorizer"
    subprocess.run(["make", "-s", "-C", str(function_dir), "build-LiveAuthorizerFunction", f"ARTIFACTS_DIR={tmp_path}",
                    f"PYTHON={sys.executable}"], check=True, capture_output=True, text=True,
                   env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    assert (tmp_path / "app.py").is_file() and (tmp_path / "jwt").is_dir() and (tmp_path / "cryptography").is_dir()
    assert_byte_compiled(tmp_path)


AUTHORIZER_DIR = REPO_ROOT / "functions" / "live_authorizer"
# The builds whose wheels follow the architecture (template.yaml: BuildMethod: makefile).
MAKEFILE_BUILDS = (LAYER_PATH / "Makefile", AUTHORIZER_DIR / "Makefile")
# ELF e_machine values (System V ABI): what each of Lambda's architectures can load.
ELF_MACHINES = {"arm64": 183, "x86_64": 62}


def makefile_variable(makefile: Path, name: str) -> str:
    """A plain ``NAME = value`` / ``NAME ?= value`` / ``NAME := value`` assignment of the Makefile."""
    found = re.search(rf"^{name}\s*[:?]?=\s*(\S+)\s*$", makefile.read_text(), re.MULTILINE)
    assert found, f"{makefile} sets no {name}"
    return found.group(1)


def test_every_function_runs_python_3_13_on_arm64_by_default_and_the_layer_follows() -> None:
    template = load_template()
    functions = template["Globals"]["Function"]
    assert functions["Runtime"] == "python3.13"
    assert template["Parameters"]["Architecture"]["Default"] == "arm64"
    assert sorted(template["Parameters"]["Architecture"]["AllowedValues"]) == sorted(ELF_MACHINES)
    assert functions["Architectures"] == [{"Ref": "Architecture"}]
    layer = template["Resources"]["SharedLayer"]
    assert layer["Properties"]["CompatibleRuntimes"] == [functions["Runtime"]]
    assert layer["Properties"]["CompatibleArchitectures"] == [{"Ref": "Architecture"}]
    assert layer["Metadata"]["BuildArchitecture"] == {"Ref": "Architecture"}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            assert "Runtime" not in resource["Properties"], logical_id
            assert "Architectures" not in resource["Properties"], logical_id


def test_the_toolchain_is_the_runtime_s_minor_version() -> None:
    """The tests, the venvs (Makefile), the wheels and bytecode of the makefile builds and ruff all target the
    runtime's Python: bytecode of another minor version would be compiled again at every cold start."""
    runtime_version = load_template()["Globals"]["Function"]["Runtime"].removeprefix("python")
    assert f"{sys.version_info.major}.{sys.version_info.minor}" == runtime_version
    assert makefile_variable(REPO_ROOT / "Makefile", "PYTHON_VERSION") == runtime_version
    for makefile in MAKEFILE_BUILDS:
        assert makefile_variable(makefile, "PYTHON_VERSION") == runtime_version, makefile
        assert makefile_variable(makefile, "PYTHON") == f"python{runtime_version}", makefile
    ruff = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["ruff"]
    assert ruff["target-version"] == "py" + runtime_version.replace(".", "")


def test_the_makefile_builds_default_to_the_template_s_architecture() -> None:
    """``sam build`` alone (no ARCHITECTURE) must build the wheels of the architecture it deploys."""
    default = load_template()["Parameters"]["Architecture"]["Default"]
    for makefile in MAKEFILE_BUILDS:
        assert makefile_variable(makefile, "ARCHITECTURE") == default, makefile


def elf_machine(path: Path) -> int | None:
    """The e_machine of an ELF file (None for any other file)."""
    with path.open("rb") as file:
        header = file.read(20)
    if len(header) < 20 or header[:4] != b"\x7fELF":
        return None
    return int.from_bytes(header[18:20], "little" if header[5] == 1 else "big")


@pytest.mark.parametrize("architecture", sorted(ELF_MACHINES))
def test_every_native_library_of_the_sam_build_artifact_is_of_the_architecture(
        architecture: str, tmp_path: Path) -> None:
    """The whole ``sam build`` artifact as the Makefile's ``build`` target makes it (ARCHITECTURE exported, the
    template parameter overridden): every ELF file, in the layer and in the functions, can load on that
    architecture, and SAM built the layer for it."""
    build_dir = tmp_path / "build"
    subprocess.run([str(Path(sys.executable).parent / "sam"), "build", "--template", str(REPO_ROOT / "template.yaml"),
                    "--build-dir", str(build_dir), "--cache-dir", str(tmp_path / "cache"),
                    "--parameter-overrides", f"Architecture={architecture}"],
                   cwd=REPO_ROOT, check=True, capture_output=True, text=True,
                   env={**os.environ, "ARCHITECTURE": architecture, "SAM_CLI_TELEMETRY": "0",
                        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
                        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])})
    machines = {path.relative_to(build_dir): elf_machine(path) for path in build_dir.rglob("*") if path.is_file()}
    native = {path: machine for path, machine in machines.items() if machine is not None}
    assert any(path.parts[0] == "SharedLayer" and "psycopg2" in path.parts for path in native)
    assert any(path.parts[0] == "LiveAuthorizerFunction" and "cryptography" in path.parts for path in native)
    assert {path: machine for path, machine in native.items() if machine != ELF_MACHINES[architecture]} == {}
    assert re.search(rf"BuildArchitecture:\s*{architecture}\b", (build_dir / "template.yaml").read_text())
