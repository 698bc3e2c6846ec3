"""The layering of docs/architecture.md, checked on the source: the core imports nothing from the study layer,
the report loads no model, and no two modules import each other (anywhere in the file, lazy imports included)."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).parents[1] / "src" / "forgetfilter"
CORE = ("signals", "pipeline", "selection", "training", "api", "result", "config", "config_io", "generation")
REVIEW = ("saved_run", "decisions", "recut", "review", "review.page", "review.payload")
STUDY = ("forgetfilter.evaluate", "forgetfilter.experiments", "forgetfilter.report")


def _module(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("forgetfilter"):
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("forgetfilter"))
    return found


GRAPH = {_module(p): _imports(p) for p in SRC.rglob("*.py")}


@pytest.mark.parametrize("name", CORE + REVIEW)
def test_the_core_and_review_import_nothing_from_the_study_layer(name):
    bad = sorted(i for i in GRAPH[f"forgetfilter.{name}"] if i.startswith(STUDY))
    assert not bad, f"forgetfilter.{name} imports {bad}"


def test_the_report_loads_no_model():
    assert not {
        i for i in GRAPH["forgetfilter.report"] if i.startswith(("forgetfilter.models", "forgetfilter.pipeline"))
    }


def test_no_two_modules_import_each_other():
    pairs = sorted(
        (a, b)
        for a, imports in GRAPH.items()
        for b in imports
        if b in GRAPH and a < b and a in GRAPH[b] and a != "forgetfilter" and b != "forgetfilter"
    )
    assert not pairs, pairs
