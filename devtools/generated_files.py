"""Files the code writes and the repository commits (``openapi.json``; the tables of ``docs/errors.md``,
``docs/http-api.md`` and ``docs/deploying.md``, each between its page's markers): written by ``make openapi``,
checked by the tests, which fail when a committed copy is stale."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

from devtools.template import REPO_ROOT


def write_or_check(path: Path, render: Callable[[str | None], str], description: str,
                   argv: list[str] | None = None, command: str = "make openapi") -> int:
    """The command line of a generator: writes ``render(current text)`` to ``path``, or with ``--check`` exits 1
    when the file differs from it (``current`` is None while the file does not exist), naming the ``command``
    that writes it."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true", help=f"exit 1 if {path.name} is not what the code says")
    arguments = parser.parse_args(argv)
    current = path.read_text() if path.exists() else None
    text = render(current)
    name = path.relative_to(REPO_ROOT)
    if arguments.check:
        if text != current:
            print(f"{name} is stale: run `{command}` and commit it", file=sys.stderr)
            return 1
        return 0
    path.write_text(text)
    print(f"wrote {name}")
    return 0


def with_block(path: Path, text: str, begin: str, end: str, block: str) -> str:
    """``text`` (the page ``path``) with what lies between its ``begin`` and ``end`` marker lines replaced by
    ``block``: the generated part of a page otherwise written by hand."""
    before, found_begin, rest = text.partition(begin)
    _, found_end, after = rest.partition(end)
    if not found_begin or not found_end:
        raise SystemExit(f"{path.relative_to(REPO_ROOT)} lacks the markers of its generated table ({begin})")
    return f"{before}{begin}\n{block}\n{end}{after}"


def write_block_or_check(path: Path, begin: str, end: str, render: Callable[[], str], description: str,
                         argv: list[str] | None = None) -> int:
    """``write_or_check`` for a generated block of a page: ``render()`` between the page's markers."""
    def page(current: str | None) -> str:
        if current is None:
            raise SystemExit(f"{path.relative_to(REPO_ROOT)} is missing")
        return with_block(path, current, begin, end, render())

    return write_or_check(path, page, description, argv)
