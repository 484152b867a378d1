"""Safe `when:` conditions and `{form.x}` text templates over a workflow's form values."""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .wording import WordedText, worded

__all__ = ["Condition", "FileRef", "FormValue", "fill_template", "template_references"]

FileRef = dict[str, str]
"""A file attached through a form: its Slack `id`, `name` and `permalink`."""
FormValue = str | int | float | bool | list[str] | list[FileRef] | None
"""One form value; list fields (several options, people or files) hold lists."""

_COMPARATORS: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_NAMES = {"true": True, "false": False, "null": None, "True": True, "False": False, "None": None}


@dataclass(frozen=True)
class Condition:
    """A parsed boolean expression such as `form.amount > 1000 and form.category == "travel"`."""

    source: str
    tree: ast.Expression
    references: frozenset[str]

    @classmethod
    def parse(cls, source: str) -> Condition:
        """Parse and check a condition; raise ValueError naming what is not allowed."""
        try:
            tree = ast.parse(source.strip(), mode="eval")
        except SyntaxError as error:
            raise ValueError(f"cannot read condition {source!r}: {error.msg}") from None
        except RecursionError:
            raise ValueError("condition is nested too deeply") from None
        references: set[str] = set()
        try:
            _check(tree.body, references)
        except RecursionError:
            raise ValueError("condition is nested too deeply") from None
        return cls(source=source, tree=tree, references=frozenset(references))

    def evaluate(self, form: Mapping[str, FormValue]) -> bool:
        """Evaluate against form values; a comparison with a missing value is false, never an error."""
        try:
            return bool(_evaluate(self.tree.body, form))
        except TypeError:
            return False


def _check(node: ast.expr, references: set[str]) -> None:
    if isinstance(node, ast.BoolOp):
        for value in node.values:
            _check(value, references)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not | ast.USub):
        _check(node.operand, references)
    elif isinstance(node, ast.Compare):
        for op in node.ops:
            if type(op) not in _COMPARATORS:
                raise ValueError(f"operator {type(op).__name__} is not allowed in a condition")
        for part in (node.left, *node.comparators):
            _check(part, references)
    elif isinstance(node, ast.Constant):
        if not isinstance(node.value, str | int | float | bool | type(None)):
            raise ValueError("only text, numbers, true, false and null are allowed as values")
    elif isinstance(node, ast.List | ast.Tuple):
        for element in node.elts:
            _check(element, references)
    elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "form":
        references.add(node.attr)
    elif isinstance(node, ast.Name) and node.id in _NAMES:
        return
    else:
        raise ValueError(
            f"{ast.unparse(node)!r} is not allowed in a condition; use form.<field>, numbers, text, "
            "comparisons (== != < <= > >= in), and, or, not"
        )


def _evaluate(node: ast.expr, form: Mapping[str, FormValue]) -> Any:
    if isinstance(node, ast.BoolOp):
        values = (_evaluate(value, form) for value in node.values)
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.UnaryOp):
        operand = _evaluate(node.operand, form)
        return (not operand) if isinstance(node.op, ast.Not) else -operand
    if isinstance(node, ast.Compare):
        left = _evaluate(node.left, form)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = _evaluate(right_node, form)
            if (left is None or right is None) and not isinstance(op, ast.Eq | ast.NotEq):
                return False
            try:
                holds = _COMPARATORS[type(op)](left, right)
            except TypeError:  # e.g. a number against text: this comparison is false, the rest still counts
                return False
            if not holds:
                return False
            left = right
        return True
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.List | ast.Tuple):
        return [_evaluate(element, form) for element in node.elts]
    if isinstance(node, ast.Attribute):
        return form.get(node.attr)
    if isinstance(node, ast.Name):
        return _NAMES[node.id]
    raise TypeError("unexpected expression")  # unreachable after _check


_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)?)\}")
# What a writer may have meant as a placeholder: any dotted name in braces, whatever its case or spacing
# (`{Requester}`, `{ form.amount }`, `{form.new_hire.manager}`), so that a slip is an error at load, not text
# that reaches Slack as written.
_PLACEHOLDER_LIKE = re.compile(r"\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*\}")


def template_references(template: str) -> set[str]:
    """Return the placeholders a template uses (or seems to), e.g. {"form.amount", "requester"}."""
    exact = set(_PLACEHOLDER.findall(template))
    loose = {
        match.group(0)[1:-1]
        for match in _PLACEHOLDER_LIKE.finditer(template)
        if not (match.group(0) == "{" + match.group(1) + "}" and match.group(1) in exact)
    }
    return exact | loose


# Characters that can make typed text read as something else: direction overrides and isolates (which
# reverse what follows, e.g. `\u202egnp.exe` shows as `exe.png`), zero-width and invisible characters (which
# hide words from a reader or a search), NUL and other control characters. Removed from typed text.
def fill_template(template: str, values: Mapping[str, WordedText]) -> WordedText:
    """Fill `{name}` placeholders from values; unknown placeholders stay as written."""
    pieces: list[str | WordedText] = []
    written_up_to = 0
    for match in _PLACEHOLDER.finditer(template):
        pieces.append(template[written_up_to : match.start()])
        value = values.get(match.group(1))
        pieces.append(match.group(0) if value is None else value)  # an unknown one as written
        written_up_to = match.end()
    pieces.append(template[written_up_to:])
    return worded(*pieces)
