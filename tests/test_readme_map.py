"""The README's architecture names what is in the tree: every `bot/...` path it mentions exists, and every listener,
command and rule of its "From a Slack interaction to its rule" table is defined where its name says."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
README = (PROJECT / "README.md").read_text()


def architecture() -> str:
    return README.split("\n## Architecture\n", 1)[1].split("\n## ", 1)[0]


def test_every_path_the_architecture_names_exists() -> None:
    named = set(re.findall(r"`((?:bot|bench|tests|deploy)/[\w/.\-]*)`", architecture()))
    assert named, "the architecture section names no file"
    missing = sorted(path for path in named if not (PROJECT / path.rstrip("/")).exists())
    assert not missing, missing


def definitions() -> tuple[dict[str, set[str]], set[str]]:
    """Each module's and class's names (functions, methods, classes, class-level assignments), and all names."""
    scopes: dict[str, set[str]] = defaultdict(set)
    every: set[str] = set()
    for path in (PROJECT / "bot").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            for name in names_of(node):
                scopes[path.stem].add(name)
                every.add(name)
            if isinstance(node, ast.ClassDef):
                for member in node.body:
                    for name in names_of(member) + attributes_set_in(member):
                        scopes[node.name].add(name)
                        every.add(name)
    return scopes, every


def attributes_set_in(method: ast.stmt) -> list[str]:
    """`self.x = ...` in a method: the instance's attributes."""
    if not isinstance(method, ast.FunctionDef | ast.AsyncFunctionDef):
        return []
    return [
        target.attr
        for statement in ast.walk(method)
        if isinstance(statement, ast.Assign | ast.AnnAssign)
        for target in (statement.targets if isinstance(statement, ast.Assign) else [statement.target])
        if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == "self"
    ]


def names_of(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return [node.name]
    if isinstance(node, ast.Assign):
        return [target.id for target in node.targets if isinstance(target, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    return []


def test_every_name_in_the_interaction_table_is_defined_where_it_says() -> None:
    section = architecture().split("**From a Slack interaction to its rule.**", 1)[1]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| In Slack")]
    rows = rows[: next(i for i, line in enumerate(rows + [""]) if not line.startswith("| "))]
    assert len(rows) >= 10, rows
    scopes, every = definitions()
    unknown: list[str] = []
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        for cell in cells[1:]:  # the first column is what a person does in Slack
            for name in re.findall(r"`([^`]+)`", cell):
                if "/" in name or " " in name:
                    continue  # a file (checked above) or words
                owner, _, attribute = name.rpartition(".")
                known = attribute in scopes.get(owner, set()) if owner else attribute in every
                if owner.startswith("engine") or not owner:
                    known = known or attribute in every
                if not known:
                    unknown.append(f"{name} (in {cells[0]})")
    assert not unknown, unknown
