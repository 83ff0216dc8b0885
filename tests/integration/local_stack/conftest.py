"""The stack a module's end-to-end tests share: ``make dev`` as a process of its own, started once per module on
free ports (a module that needs other settings defines its own ``stack``)."""
from __future__ import annotations

from typing import Iterator

import pytest

from devtools.local_stack.launch import RunningStack, running_stack


@pytest.fixture(scope="module")
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with running_stack(tmp_path_factory.mktemp(request.module.__name__.rpartition(".")[2])) as running:
        yield running
