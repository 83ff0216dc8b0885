"""The documentation in the repository (README.md, docs/) stays true and self-contained: every link resolves to a
file a clone contains; every make target, script and event file it names exists; the routes, error codes, item
keys, frames and variables it documents are the code's; and the page on changing the code names only what exists,
every test directory and every consumer of the table's stream."""
from __future__ import annotations

import ast
import json
import os
import re
import subprocess
from functools import cache
from pathlib import Path
from urllib.parse import unquote

import pytest

from cruddur_messaging.data import keys
from cruddur_messaging.errors import ErrorCode, FrameErrorCode
from devtools import error_docs, iam_table, route_docs
from devtools.environment import LOCAL_TABLE_NAME, LocalResources, template_context
from devtools.openapi import DOCUMENT_PATH
from devtools.template import REPO_ROOT, function_specs, load_template

DOCS = REPO_ROOT / "docs"
CHANGING_CODE = DOCS / "changing-code.md"
README = REPO_ROOT / "README.md"
MARKDOWN_FILES = [README, *sorted(DOCS.glob("*.md"))]
LAYER = REPO_ROOT / "layers" / "shared" / "cruddur_messaging"

FENCED_CODE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
INLINE_LINK = re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s*\[[^\]\n]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$", re.MULTILINE)
URL_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def read(path: Path) -> str:
    return path.read_text()


def flat(text: str) -> str:
    """Whitespace folded, so that a phrase wrapped over two lines is still found."""
    return " ".join(text.split())


# --- links ------------------------------------------------------------------------------------------------------

def link_targets(text: str) -> list[str]:
    """The targets of the Markdown links (inline, images, reference definitions) outside code."""
    prose = INLINE_CODE.sub("", FENCED_CODE.sub("", text))
    return INLINE_LINK.findall(prose) + REFERENCE_LINK.findall(prose)


def heading_anchors(text: str) -> set[str]:
    """The anchors GitHub gives a file's headings: lower case, punctuation dropped, spaces as hyphens, a repeated
    heading numbered."""
    anchors: set[str] = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", FENCED_CODE.sub("", text), re.MULTILINE):
        heading = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        anchor, number = slug, 0
        while anchor in anchors:
            number += 1
            anchor = f"{slug}-{number}"
        anchors.add(anchor)
    return anchors


def ignored_by_git(path: Path) -> bool:
    """What ``.gitignore`` keeps out of the repository (``.local``, ``.venv``...): present here, not in a clone."""
    return subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=REPO_ROOT).returncode == 0


def link_problem(source: Path, target: str) -> str | None:
    """Why ``target``, linked from ``source``, would not resolve in a clone of the repository; None if it does."""
    if URL_SCHEME.match(target):
        return None  # a URL (https:, mailto:): not a file of the repository
    file_part, _, anchor = target.partition("#")
    resolved = (source.parent / unquote(file_part)).resolve() if file_part else source
    if not resolved.is_relative_to(REPO_ROOT):
        return f"{target} leaves the repository ({resolved})"
    if not resolved.exists():
        return f"{target}: no such file in the repository"
    if ignored_by_git(resolved):
        return f"{target} is ignored by git: a clone does not have it"
    if anchor and resolved.suffix == ".md" and anchor not in heading_anchors(read(resolved)):
        return f"{target}: {resolved.name} has no heading with the anchor #{anchor}"
    return None


LINKS = [(path, target) for path in MARKDOWN_FILES for target in link_targets(read(path))]


@pytest.mark.parametrize(("source", "target"), LINKS,
                         ids=[f"{path.relative_to(REPO_ROOT)}->{target}" for path, target in LINKS])
def test_every_link_resolves_inside_the_repository(source: Path, target: str) -> None:
    assert link_problem(source, target) is None


def test_the_link_check_refuses_what_a_clone_lacks() -> None:
    assert "leaves the repository" in link_problem(README, "../shared/CONTRACT.md")
    assert "leaves the repository" in link_problem(DOCS / "http-api.md", "../../shared/CONTRACT.md#1-http-api")
    assert "no such file" in link_problem(README, "docs/no-such-page.md")
    assert "no heading" in link_problem(README, "docs/errors.md#no-such-section")
    assert "no heading" in link_problem(README, "#no-such-section")
    assert link_problem(DOCS / "http-api.md", "../openapi.json") is None
    assert link_problem(DOCS / "websocket-api.md", "errors.md#the-websocket-api") is None
    assert link_problem(README, "https://docs.aws.amazon.com/") is None
    assert ignored_by_git(REPO_ROOT / ".local" / "stack.json") and not ignored_by_git(README)


def test_links_are_found_in_prose_and_not_in_code() -> None:
    text = ("See [the API](docs/http-api.md) and ![x](img.png).\n`[not](a-link)`\n```\n[nor](this)\n```\n"
            "[r]: docs/x.md\n")
    assert link_targets(text) == ["docs/http-api.md", "img.png", "docs/x.md"]
    assert heading_anchors("# Running locally: `make dev`\n## A\n## A\n") == {"running-locally-make-dev", "a", "a-1"}


def test_no_link_of_the_readme_or_docs_leaves_the_repository_by_dotdot() -> None:
    leaving = [(path.name, target) for path, target in LINKS
               if not URL_SCHEME.match(target) and ".." in Path(target.partition("#")[0]).parts
               and not (path.parent / target.partition("#")[0]).resolve().is_relative_to(REPO_ROOT)]
    assert LINKS and leaving == []


def test_the_readme_leads_to_every_page_of_docs() -> None:
    def linked_from(path: Path) -> set[Path]:
        return {(path.parent / target.partition("#")[0]).resolve() for target in link_targets(read(path))
                if not URL_SCHEME.match(target) and target.partition("#")[0]}

    reached, frontier = set(), {README.resolve()}
    while frontier:
        page = frontier.pop()
        reached.add(page)
        frontier |= {linked for linked in linked_from(page) if linked.suffix == ".md" and linked not in reached}
    pages = {path.resolve() for path in DOCS.glob("*.md")}
    assert pages and pages <= reached


def test_nothing_in_the_repository_points_at_the_contract_outside_it() -> None:
    found = subprocess.run(["git", "grep", "-n", "-I", "-F", "-e", "CONTRACT.md", "-e", "../shared/", "--", "."],
                           cwd=REPO_ROOT, capture_output=True, text=True)
    mentions = [line for line in found.stdout.splitlines() if not line.startswith("tests/unit/test_docs.py:")]
    assert mentions == []


# --- error codes ------------------------------------------------------------------------------------------------

def documented_errors() -> dict[str, tuple[int, str]]:
    """Each code of the table of docs/errors.md, with its status and meaning."""
    table = read(DOCS / "errors.md").partition(error_docs.BEGIN)[2].partition(error_docs.END)[0]
    rows = re.findall(r"^\| (\d{3}) \| `([a-z_]+)` \| (.+?) \| [^|]+ \|$", table, re.MULTILINE)
    return {code: (int(status), meaning) for status, code, meaning in rows}


def test_the_documented_error_codes_statuses_and_meanings_are_the_catalog() -> None:
    assert documented_errors() == {code.value: (code.status, code.meaning) for code in ErrorCode}


def test_the_error_table_is_what_make_openapi_writes() -> None:
    assert error_docs.main(["--check"]) == 0


def test_a_code_no_route_declares_is_written_as_answered_by_none() -> None:
    document = json.loads(DOCUMENT_PATH.read_text())
    for item in document["paths"].values():
        for operation in item.values():
            for response in operation["responses"].values():
                schema = response.get("content", {}).get("application/json", {}).get("schema", {})
                for option in schema.get("oneOf", [schema]):
                    codes = option.get("properties", {}).get("code", {}).get("enum", [])
                    if ErrorCode.MESSAGE_SELF in codes:
                        codes.remove(ErrorCode.MESSAGE_SELF)
    row = next(line for line in error_docs.render_table(document).splitlines() if "`message_self`" in line)
    assert row == f"| 422 | `message_self` | {ErrorCode.MESSAGE_SELF.meaning} | none |"


def test_the_error_table_names_the_routes_openapi_lists_for_each_code() -> None:
    table = read(DOCS / "errors.md").partition(error_docs.BEGIN)[2]
    row = next(line for line in table.splitlines() if "`message_self`" in line)
    assert row.endswith("| `POST /api/messages` |")
    assert "every route |" in next(line for line in table.splitlines() if "`internal_error`" in line)


def test_the_documented_websocket_error_codes_are_those_the_code_sends() -> None:
    section = read(DOCS / "errors.md").partition("## The WebSocket API")[2]
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", section, re.MULTILINE))
    assert documented == set(FrameErrorCode) != set()


# --- routes -----------------------------------------------------------------------------------------------------

def documented_routes() -> set[tuple[str, str, str, bool]]:
    """(method, path, function, authorized) of each row of the route table of docs/http-api.md."""
    rows = re.findall(r"^\| `([A-Z]+) (/[^`]*)` \| `(\w+)` \| ([^|]+) \|", read(DOCS / "http-api.md"), re.MULTILINE)
    return {(method, path, function, auth.strip() != "none") for method, path, function, auth in rows}


def test_the_documented_routes_are_the_templates() -> None:
    specs = function_specs(load_template(), template_context(LocalResources(table_name="t"), stream_arn="-"))
    routes = {(route.method, route.path, spec.logical_id, route.authorized)
              for spec in specs.values() for route in spec.routes}
    assert routes and documented_routes() == routes


def test_the_documented_routes_are_openapis() -> None:
    document = json.loads(DOCUMENT_PATH.read_text())
    in_document = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert {(method, path) for method, path, _, _ in documented_routes()} == in_document


def test_the_route_table_is_what_make_openapi_writes() -> None:
    assert route_docs.main(["--check"]) == 0  # stale: run `make openapi`


def test_the_route_table_gives_each_routes_declared_status_and_summary() -> None:
    document = json.loads(DOCUMENT_PATH.read_text())
    operation = document["paths"]["/api/users/{handle}/short"]["get"]
    operation["responses"] = {"204" if status == "200" else status: answer
                              for status, answer in operation["responses"].items()}
    operation["summary"] = "A | in a summary."
    row = next(line for line in route_docs.render_table(document).splitlines() if "/short`" in line)
    assert row == "| `GET /api/users/{handle}/short` | `UsersShortFunction` | none | 204 | A \\| in a summary. |"


# --- items ------------------------------------------------------------------------------------------------------

def documented_item_keys() -> list[tuple[str, str]]:
    """(pk, sk) of each row of the item table of docs/data-model.md."""
    section = read(DOCS / "data-model.md").partition("## Items")[2].partition("\n## ")[0]
    return re.findall(r"^\| [^|`]+ \| `([^`]+)` \| `([^`]+)` \|", section, re.MULTILINE)


def test_the_documented_item_keys_are_built_by_keys_py() -> None:
    membership, pair = keys.membership_key("<group uuid>"), keys.pair_key("<uuid 2>", "<uuid 1>")
    pair_block = keys.pair_block_key("<blocker uuid>", "<blocked uuid>")
    built = {
        (keys.group_rows_pk("<owner uuid>"), None),
        (keys.messages_pk("<group uuid>"), None),
        (membership["pk"], membership["sk"]),
        (pair["pk"], pair["sk"]),
        (keys.pair_pk("<uuid 2>", "<uuid 1>"), pair_block["sk"]),
        (keys.blocks_pk("<blocker uuid>"), None),
        (keys.idempotency_pk("<request hash>"), None),
        (keys.connections_pk("<user uuid>"), None),
        (keys.limit_key("<user uuid>", "<action>")["pk"], keys.limit_key("<user uuid>", "<action>")["sk"]),
    }
    documented = documented_item_keys()
    assert len(documented) == len(built)
    assert {pk for pk, _ in documented} == {pk for pk, _ in built}
    for pk, sk in built:
        assert sk is None or (pk, sk) in documented, (pk, sk)
    assert pair["pk"] == "PAIR#<uuid 1>#<uuid 2>"  # sorted, as the table says
    assert keys.blocker_of_pair_sk(pair_block["sk"]) == "<blocker uuid>" and keys.blocker_of_pair_sk("PAIR") is None


def test_every_key_prefix_of_keys_py_is_documented() -> None:
    prefixes = {value for name, value in vars(keys).items() if name.endswith("_PREFIX") and isinstance(value, str)}
    documented = {pk for pk, _ in documented_item_keys()}
    assert prefixes and all(any(pk.startswith(prefix) for pk in documented) for prefix in prefixes)
    # one partition format per prefix: a new item kind in keys.py needs its row
    assert len(documented) == len(prefixes)


def test_the_documented_table_is_the_templates() -> None:
    template = load_template()
    table = template["Resources"]["MessagesTable"]["Properties"]
    indexes = table["GlobalSecondaryIndexes"]
    doc = flat(read(DOCS / "data-model.md"))
    assert "two global secondary indexes" in doc and len(indexes) == 2
    for index in indexes:
        name = index["IndexName"]["Ref"]
        entry = doc.partition(f"`{template['Parameters'][name]['Default']}` (the `{name}` parameter):")[2]
        assert entry, name
        keys_described = entry[:entry.index("projection")]
        assert all(f"`{key['AttributeName']}` ({key['KeyType']})" in keys_described for key in index["KeySchema"])
        assert entry[entry.index("projection"):].startswith(f"projection `{index['Projection']['ProjectionType']}`")
    assert template["Parameters"]["TableName"]["Default"] == ""
    assert f"`{LOCAL_TABLE_NAME}`" in doc and "the stack's `MessagesTableName` output" in doc
    assert f"`DeletionPolicy: {template['Resources']['MessagesTable']['DeletionPolicy']}`" in doc
    assert f"`{table['StreamSpecification']['StreamViewType']}`" in doc
    assert f"TTL on the attribute `{table['TimeToLiveSpecification']['AttributeName']}`" in doc


# --- the WebSocket frames -----------------------------------------------------------------------------------------

def frame_types_built() -> set[str]:
    """The ``"type"`` of every frame ``models.py`` builds."""
    types = set()
    for node in ast.walk(ast.parse((LAYER / "models.py").read_text())):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value == "type" and isinstance(value, ast.Constant):
                    types.add(value.value)
    return types


def test_the_documented_frames_are_those_the_code_sends() -> None:
    section = read(DOCS / "websocket-api.md").partition("## Frames")[2].partition("\n## ")[0]
    documented = set(re.findall(r'^\| `\{"type": "([a-z.]+)"', section, re.MULTILINE))
    assert documented == frame_types_built() != set()


# --- the local stack's variables ------------------------------------------------------------------------------------

def variables_read() -> set[str]:
    sources = [*(REPO_ROOT / "devtools").rglob("*.py"), *(REPO_ROOT / "bench").rglob("*.py")]
    return {name for path in sources for name in re.findall(r"\bCRUDDUR_[A-Z][A-Z_]*\b", path.read_text())}


def variable_defaults(text: str) -> dict[str, str]:
    return dict(re.findall(r"^\| `(CRUDDUR_[A-Z_]+)` \| `([^`]*)` \|", text, re.MULTILINE))


def test_the_local_stack_page_documents_exactly_the_variables_the_code_reads() -> None:
    assert set(variable_defaults(read(DOCS / "local-stack.md"))) == variables_read() != set()


def test_the_readme_and_the_local_stack_page_give_the_same_defaults() -> None:
    in_readme, in_docs = variable_defaults(read(README)), variable_defaults(read(DOCS / "local-stack.md"))
    assert in_readme and {name: in_docs.get(name) for name in in_readme} == in_readme


# --- what the pages name exists ------------------------------------------------------------------------------------

@cache
def make_targets() -> set[str]:
    listed = subprocess.run(["make", "-s", "help"], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    return set(re.findall(r"make (\S+)", listed.stdout))


def code_of(text: str) -> str:
    """What a page shows as code (fenced blocks and inline spans), where a command is a command and "make" no verb."""
    return "\n".join([*FENCED_CODE.findall(text), *INLINE_CODE.findall(FENCED_CODE.sub("", text))])


def named(pattern: str, where=read) -> list[tuple[Path, str]]:
    """(page, name) for every distinct match of ``pattern``'s group in the README and docs/."""
    return sorted({(path, name) for path in MARKDOWN_FILES for name in re.findall(pattern, where(path))})


def page_ids(pairs: list[tuple[Path, str]]) -> list[str]:
    return [f"{path.relative_to(REPO_ROOT)}:{name}" for path, name in pairs]


MAKE_TARGETS_NAMED = named(r"\bmake (?:-s )?([a-z]+)\b", lambda path: code_of(read(path)))
SCRIPTS_NAMED = named(r"`(bin/[a-z_/-]+)")
EVENTS_NAMED = named(r"(events/[a-z0-9-]+\.json)")


def test_the_pages_name_make_targets_scripts_and_events() -> None:
    pages = {path for path, _ in MAKE_TARGETS_NAMED}
    assert README in pages and CHANGING_CODE in pages and SCRIPTS_NAMED and EVENTS_NAMED
    example = "To make a change, run `make dev` or\n```\nmake -s token\n```\n"
    assert re.findall(r"\bmake (?:-s )?([a-z]+)\b", code_of(example)) == ["token", "dev"]


@pytest.mark.parametrize(("page", "target"), MAKE_TARGETS_NAMED, ids=page_ids(MAKE_TARGETS_NAMED))
def test_every_make_target_a_page_names_exists(page: Path, target: str) -> None:
    assert target in make_targets()


@pytest.mark.parametrize(("page", "command"), SCRIPTS_NAMED, ids=page_ids(SCRIPTS_NAMED))
def test_every_script_a_page_names_is_executable(page: Path, command: str) -> None:
    assert os.access(REPO_ROOT / command, os.X_OK)


@pytest.mark.parametrize(("page", "event"), EVENTS_NAMED, ids=page_ids(EVENTS_NAMED))
def test_every_event_file_a_page_names_exists(page: Path, event: str) -> None:
    assert (REPO_ROOT / event).is_file()


# --- the page on changing the code --------------------------------------------------------------------------------

# A path in code spans: from the repository's root, or (domain/..., data/...) inside the layer's package. Placeholders
# (functions/<fn>/app.py) and globs are not paths.
REPOSITORY_PATH = re.compile(r"`((?:functions|layers|devtools|tests|events|bench|bin|db|docs|domain|data)/[\w./-]*"
                             r"|template\.yaml|openapi\.json|Makefile)`")


def changing_code_paths() -> list[str]:
    return sorted(set(REPOSITORY_PATH.findall(read(CHANGING_CODE))))


def repository_path(name: str) -> Path:
    return (LAYER if name.startswith(("domain/", "data/")) else REPO_ROOT) / name


@pytest.mark.parametrize("name", changing_code_paths())
def test_every_path_the_changing_code_page_names_exists(name: str) -> None:
    assert repository_path(name).exists(), f"docs/changing-code.md names {name}, which does not exist"


def test_the_changing_code_page_names_paths_and_the_check_refuses_a_missing_one() -> None:
    assert len(changing_code_paths()) > 20
    assert not repository_path("domain/no_such_module.py").exists()


def test_the_changing_code_page_says_where_every_test_directory_is() -> None:
    directories = {path.parent.relative_to(REPO_ROOT).as_posix() for path in (REPO_ROOT / "tests").rglob("test_*.py")}
    page = read(CHANGING_CODE)
    assert {"tests/unit", "tests/integration"} <= directories
    assert [directory for directory in sorted(directories) if f"| `{directory}` |" not in page] == []


def test_the_changing_code_page_names_every_consumer_of_the_stream_and_its_generated_files() -> None:
    specs = function_specs(load_template(), template_context(LocalResources(table_name="t"), stream_arn="-"))
    consumers = {logical_id for logical_id, spec in specs.items() if spec.stream_events}
    page = read(CHANGING_CODE)
    assert consumers and all(f"`{logical_id}`" in page for logical_id in consumers)
    assert "`make openapi`" in page and f"`{DOCUMENT_PATH.name}`" in page
    for generated in (error_docs.ERRORS_DOC, route_docs.HTTP_API_DOC, iam_table.DEPLOYING):
        assert f"`{generated.relative_to(REPO_ROOT).as_posix()}`" in page
