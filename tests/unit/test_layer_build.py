"""The shared layer as ``sam build`` builds it (layers/shared/Makefile): complete, byte-compiled, without boto3.

Built here into a temporary directory with the same make target ``sam build`` runs, so the test needs no earlier
build (pip fetches the pinned wheels, or takes them from its cache).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.functions import LAYER_PATH

# PEP 552 flags of a .pyc: bit 0 = hash-based, bit 1 = check_source.
UNCHECKED_HASH_FLAGS = 0b01
# Half the layer of before (44 MB of files, with its own boto3/botocore and no bytecode).
MAX_LAYER_MB = 22


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


def test_the_layer_is_at_most_half_its_old_size(layer: Path) -> None:
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
