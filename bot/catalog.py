"""Load `workflows/*.yaml` and `org.yaml`, reporting every problem as `file:line: field: message`."""

from __future__ import annotations

import copy
import dataclasses
import difflib
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from yaml.reader import ReaderError

from bot.approvals import APPROVAL_WORKFLOW
from bot.engine.definition import (
    EscalationPolicy,
    FormField,
    ParallelGroup,
    ReminderPolicy,
    SelectOption,
    StartPolicy,
    Step,
    WorkflowDefinition,
)
from bot.engine.org import OrgChart, Person
from bot.org_cache import OrgCache, source_digest
from bot.plain_yaml import load_plain_mapping

__all__ = [
    "ORG_FILE",
    "Catalog",
    "CatalogError",
    "DefinitionError",
    "format_report",
    "load_catalog",
    "load_org",
]

ORG_FILE = "org.yaml"
_Loader = yaml.SafeLoader | yaml.CSafeLoader
_C_LOADER: type[yaml.CSafeLoader] | None = getattr(yaml, "CSafeLoader", None)  # None: PyYAML built without libyaml
_SUFFIXES = (".yaml", ".yml")
_STAGE_TAGS = frozenset({"step", "parallel"})
_WORKFLOW_MODELS: tuple[type[BaseModel], ...] = (
    WorkflowDefinition,
    Step,
    ParallelGroup,
    StartPolicy,
    FormField,
    SelectOption,
    ReminderPolicy,
    EscalationPolicy,
)
_WORKFLOW_KEYS = frozenset(name for model in _WORKFLOW_MODELS for name in model.model_fields)
_ORG_KEYS = frozenset(OrgChart.model_fields) | frozenset(field.name for field in dataclasses.fields(Person))
_CONDITION = re.compile(r"condition|allowed as values")
_LEADING_REF = re.compile(r"^(\S+) (?:refers|must be|\()")
_QUOTED = re.compile(r"'([^']+)'|\"([^\"]+)\"")
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")  # as named in a message, whatever its case or spacing
_WORD = re.compile(r"[a-z_]+")

Loc = tuple[str | int, ...]
T = TypeVar("T")


@dataclass(frozen=True)
class DefinitionError:
    """One problem in one file; `line` is 1-based, 0 when it concerns the whole file."""

    file: Path
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{_display(self.file)}:{self.line}" if self.line else _display(self.file)
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class CatalogError(ValueError):
    """Raised by `load_org` for a broken org file; `errors` says where."""

    def __init__(self, errors: Sequence[DefinitionError]) -> None:
        self.errors = tuple(errors)
        super().__init__("\n".join(str(error) for error in self.errors))


@dataclass(frozen=True)
class Catalog:
    """The org chart and every workflow that loaded, plus what was wrong with the rest."""

    org: OrgChart
    workflows: Mapping[str, WorkflowDefinition]
    errors: tuple[DefinitionError, ...] = ()

    def get(self, name: str) -> WorkflowDefinition | None:
        """The workflow called `name`, if it loaded."""
        return self.workflows.get(name)

    def names(self) -> tuple[str, ...]:
        """Names of the loaded workflows, sorted."""
        return tuple(sorted(self.workflows))


@dataclass(frozen=True)
class _Spot:
    """A place in a YAML file: its path of keys/indexes, its node, and its 1-based line."""

    path: Loc
    node: yaml.Node
    line: int


@dataclass(frozen=True)
class _Document:
    data: Any
    root: _Spot


def load_org(path: Path, *, cache: Path | None = None) -> OrgChart:
    """Read the org chart; a missing file is an empty org; raise CatalogError saying what is wrong.
    With `cache`, a compiled copy kept in that file stands in for the file while the file is unchanged."""
    org, errors = _read_org(path, cache)
    if org is None or errors:
        raise CatalogError(errors)
    return org


def load_catalog(directory: Path, *, org_cache: Path | None = None) -> Catalog:
    """Load the org chart and every workflow file in `directory`; never raises for bad content.
    With `org_cache`, a compiled copy of org.yaml kept in that file stands in for it while org.yaml is unchanged."""
    org_path = _org_path(directory)
    org, errors = _read_org(org_path, org_cache)
    context = _org_context(org)
    workflows: dict[str, WorkflowDefinition] = {}
    origins: dict[str, Path] = {}
    try:
        files = _workflow_files(directory)
    except OSError as error:
        files = []
        message = f"cannot list the directory: {error.strerror or error}"
        errors.append(DefinitionError(directory, 0, "", message))
    for path in files:
        result = _safely(path, lambda p: _load_workflow(p, context, origins))
        if isinstance(result, WorkflowDefinition):
            workflows[result.name] = result
            origins[result.name] = path
        else:
            errors.extend(result)
    return Catalog(org or OrgChart(), MappingProxyType(workflows), tuple(errors))


def _org_context(org: OrgChart | None) -> dict[str, Any]:
    """What a workflow file's references are checked against: org.yaml's groups, and its people's emails (a file
    may name someone by email; it holds their user ID once loaded). A broken org.yaml: no checks, less noise."""
    if org is None:
        return {}
    emails = {person.email.strip().lower(): user_id for user_id, person in org.people.items() if person.email}
    return {"groups": org.groups, "emails": emails}


def format_report(catalog: Catalog) -> str:
    """A summary for `python -m bot check`: loaded workflows, then every error, then the totals."""
    width = max((len(name) for name in catalog.names()), default=0)
    lines = [_summary(catalog.workflows[name], width) for name in catalog.names()]
    lines += [str(error) for error in catalog.errors]
    lines.append(f"{_plural(len(catalog.workflows), 'workflow')} loaded, {_plural(len(catalog.errors), 'error')}")
    return "\n".join(lines)


def _summary(definition: WorkflowDefinition, width: int) -> str:
    steps, fields = len(definition.all_steps()), len(definition.form)
    counts = f"{_plural(steps, 'step')}, {_plural(fields, 'form field')}"
    return f"ok  {definition.name:<{width}}  {definition.title:<24}  {counts}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _display(path: Path) -> str:
    if path.is_absolute():
        try:
            return str(path.relative_to(Path.cwd()))
        except (ValueError, OSError):
            return str(path)
    return str(path)


# ---- finding files ----------------------------------------------------------------------------


def _org_path(directory: Path) -> Path:
    fallback = directory / "org.yml"
    try:
        use_fallback = not (directory / ORG_FILE).exists() and fallback.exists()
    except OSError:
        use_fallback = False
    return fallback if use_fallback else directory / ORG_FILE


def _workflow_files(directory: Path) -> list[Path]:
    return sorted(
        path
        for path in directory.iterdir()
        if path.suffix.lower() in _SUFFIXES and path.stem != "org" and not path.name.startswith(".")
    )


def _safely(path: Path, load: Callable[[Path], T | list[DefinitionError]]) -> T | list[DefinitionError]:
    try:
        return load(path)
    except Exception as error:  # the last line of defence: one bad file never stops the others
        return [DefinitionError(path, 0, "", f"cannot load this file ({type(error).__name__}: {error})")]


# ---- org.yaml ---------------------------------------------------------------------------------


def _read_org(path: Path, cache: Path | None) -> tuple[OrgChart | None, list[DefinitionError]]:
    result = _safely(path, lambda p: _load_org_file(p, OrgCache(cache) if cache else None))
    return (result, []) if isinstance(result, OrgChart) else (None, result)


def _load_org_file(path: Path, cache: OrgCache | None) -> OrgChart | list[DefinitionError]:
    if not path.exists():
        return OrgChart()
    raw = _read(path)
    if isinstance(raw, DefinitionError):
        return [raw]
    digest = source_digest(raw)
    cached = cache.read(digest) if cache else None
    if cached is not None:
        return cached
    from_json = _org_from_json(raw)
    org = from_json if from_json is not None else _org_from_yaml(path, raw)
    if isinstance(org, list):
        return org
    return _compacted(org, digest, cache)


def _org_from_yaml(path: Path, raw: bytes) -> OrgChart | list[DefinitionError]:
    plain = _org_from_plain_yaml(raw)
    if plain is not None:
        return plain
    document = _parse(path, raw)
    if document is None:
        return OrgChart()
    if isinstance(document, DefinitionError):
        return [document]
    if not isinstance(document.data, dict):
        return [_not_a_mapping(path, document, "people: and groups:")]
    try:
        return OrgChart.model_validate(document.data)
    except ValidationError as error:
        return _validation_errors(path, document, error, _ORG_KEYS)


def _org_from_plain_yaml(raw: bytes) -> OrgChart | None:
    """An org.yaml that is a plain mapping (most are) read from libyaml's events, without PyYAML's node tree:
    several times faster (bot/plain_yaml.py). None when it is not plain, or not a valid org: the node tree then
    says by line what is wrong."""
    if _C_LOADER is None:
        return None
    try:
        data = load_plain_mapping(raw.decode("utf-8-sig"), _C_LOADER)
    except UnicodeDecodeError:
        return None
    if data is None:
        return None
    try:
        return OrgChart.model_validate(data)
    except ValidationError:
        return None


def _org_from_json(raw: bytes) -> OrgChart | None:
    """An org.yaml written as JSON (JSON is YAML; an HR sync writes it so) loads in a fraction of the time YAML
    takes. None when the file is not such JSON, or not a valid org: the YAML path then says what is wrong, by line."""
    try:
        if not raw.lstrip().startswith(b"{"):
            return None
        data = json.loads(raw.decode("utf-8-sig"), object_pairs_hook=_refuse_duplicate_keys)
        return OrgChart.model_validate(data)
    except ValueError:  # not JSON, a key twice (ValueError), or not a valid org
        return None


def _compacted(org: OrgChart, digest: str, cache: OrgCache | None) -> OrgChart:
    """The same org built again from its JSON once the parser is done: its strings then lie together instead of
    scattered through the memory the parser held, which the process can then give back. Cached when asked."""
    try:
        body = org.model_dump_json().encode()
        compact = OrgChart.model_validate_json(body)
    except ValueError:  # not expected (pydantic's serialisation and validation errors are ValueErrors)
        return org
    if compact != org:  # not expected either: an org that does not survive its own JSON is kept as read, uncached
        return org
    if cache is not None:
        cache.write(digest, body)
    return compact


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    mapping = dict(pairs)
    if len(mapping) != len(pairs):
        raise ValueError("a key appears twice")
    return mapping


# ---- workflow files ---------------------------------------------------------------------------


def _load_workflow(
    path: Path, context: dict[str, Any], origins: Mapping[str, Path]
) -> WorkflowDefinition | list[DefinitionError]:
    document = _parse(path)
    if document is None:
        return [DefinitionError(path, 1, "", "the file is empty; a workflow needs name, title and steps")]
    if isinstance(document, DefinitionError):
        return [document]
    if not isinstance(document.data, dict):
        return [_not_a_mapping(path, document, "name:, title:, form:, steps:")]
    try:
        definition = WorkflowDefinition.model_validate(document.data, context=context)
    except ValidationError as error:
        errors = _validation_errors(path, document, error, _WORKFLOW_KEYS)
        return errors + _whole_workflow_errors(path, document, error, context, known=errors)
    problem = _naming_problem(path, definition.name, origins)
    if problem:
        spot = _child(document.root, "name") or document.root
        return [DefinitionError(path, spot.line, "name", problem)]
    return definition


def _whole_workflow_errors(
    path: Path, document: _Document, error: ValidationError, context: dict[str, Any], *, known: list[DefinitionError]
) -> list[DefinitionError]:
    """The checks that run only once the fields they look at are valid (`manger`, `{form.amout}`), run anyway on
    a copy without the faulty keys, so `check` reports both kinds of error in one pass."""
    data = copy.deepcopy(document.data)
    found: list[DefinitionError] = []
    for _ in range(3):  # removing a key can uncover another faulty one; a few rounds reach the whole-file checks
        details = _without_noise(error.errors(include_url=False))
        if not any([_remove_at(data, tuple(detail["loc"]), detail["msg"]) for detail in details]):
            break
        try:
            WorkflowDefinition.model_validate(data, context=context)
            break
        except ValidationError as again:
            error = again
        checks = [d for d in error.errors(include_url=False) if d["type"] == "value_error" and _names_a_reference(d)]
        if checks:
            exception = ValidationError.from_exception_data(error.title, checks)  # type: ignore[arg-type]
            found += _validation_errors(path, document, exception, _WORKFLOW_KEYS)
    return [e for e in dict.fromkeys(found) if e not in known]


_PEOPLE_KEYS = frozenset({"assignee", "to", "allowed"})
# what the checks that wait for valid fields say; other errors of later rounds echo the keys removed before
_REFERENCE_PROBLEMS = (
    "does not name anyone", "refers to a form field", "which the form does not have", "is not in org.yaml",
    "unknown placeholder", "must be a user field",
)


def _names_a_reference(detail: ErrorDetails) -> bool:
    return any(phrase in detail["msg"] for phrase in _REFERENCE_PROBLEMS)


def _remove_at(data: Any, loc: Loc, message: str) -> bool:
    """Delete the key a pydantic error points at (tags of unions on the way are skipped), or the key of the
    mapping it points at whose value the message quotes (`'requester.manger' does not name anyone`); say if
    there was one."""
    current = data
    for index, part in enumerate(loc):
        if isinstance(current, dict) and isinstance(part, str) and part in current:
            if index == len(loc) - 1:
                del current[part]
                return True
            current = current[part]
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            current = current[part]
    if isinstance(current, dict):
        for key, value in list(current.items()):
            values = value if isinstance(value, list) else [value]
            if any(isinstance(v, str) and f"{v.strip()!r}" in message for v in values):
                if key in _PEOPLE_KEYS:  # someone who always resolves, so the step still has its people
                    current[key] = "requester"
                else:
                    del current[key]
                return True
    return False


def _naming_problem(path: Path, name: str, origins: Mapping[str, Path]) -> str | None:
    if name != path.stem:
        fix = f"rename the file to {name}{path.suffix} or write name: {path.stem}"
        return f"{name!r} must match the file name; {fix}"
    if name in origins:
        return f"workflow {name!r} is already defined in {_display(origins[name])}"
    if name == APPROVAL_WORKFLOW:
        return f"{name!r} is the name of the API's one-off approvals; give this workflow another name"
    return None


def _not_a_mapping(path: Path, document: _Document, keys: str) -> DefinitionError:
    kind = "a list" if isinstance(document.data, list) else "a single value"
    message = f"the file must be a mapping of keys ({keys} ...), not {kind}"
    return DefinitionError(path, document.root.line, "", message)


# ---- reading YAML -----------------------------------------------------------------------------


def _read(path: Path) -> bytes | DefinitionError:
    try:
        return path.read_bytes()
    except OSError as error:
        return DefinitionError(path, 0, "", f"cannot read the file: {error.strerror or error}")


def _parse(path: Path, raw: bytes | None = None) -> _Document | DefinitionError | None:
    """Parse one file (read it unless `raw` holds its bytes); None when it holds no document at all."""
    if raw is None:
        read = _read(path)
        if isinstance(read, DefinitionError):
            return read
        raw = read
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        return DefinitionError(path, raw[: error.start].count(b"\n") + 1, "", "the file is not UTF-8 text")
    try:
        return _compose(path, text)
    except yaml.MarkedYAMLError as error:
        return _yaml_error(path, error)
    except ReaderError as error:
        line = text[: error.position].count("\n") + 1
        return DefinitionError(path, line, "", f"invalid YAML: character {error.character!r} is not allowed")
    except yaml.YAMLError as error:
        return DefinitionError(path, 1, "", f"invalid YAML: {error}")


def _compose(path: Path, text: str) -> _Document | DefinitionError | None:
    """Parse with libyaml's C parser when PyYAML has it (several times faster on a large org.yaml); a file it
    finds fault with is parsed again in pure Python, whose messages are the ones this module words."""
    if _C_LOADER is not None:
        try:
            return _compose_with(_C_LOADER, path, text)
        except yaml.YAMLError:
            pass
    return _compose_with(yaml.SafeLoader, path, text)


def _compose_with(loader_type: type[_Loader], path: Path, text: str) -> _Document | DefinitionError | None:
    loader = loader_type(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        duplicate = _duplicate_key(node)
        if duplicate is not None:
            message = f"{duplicate.value!r} appears twice in the same block; keep one"
            return DefinitionError(path, duplicate.start_mark.line + 1, "", message)
        try:
            data = loader.construct_document(node)
        except ValueError as error:  # e.g. a date like 2024-02-30
            line = _bad_timestamp_line(loader, node)
            return DefinitionError(path, line, "", f"invalid YAML: cannot read a value ({error})")
    finally:
        loader.dispose()
    return _Document(data, _Spot((), node, node.start_mark.line + 1))


def _bad_timestamp_line(loader: _Loader, root: yaml.Node) -> int:
    for node in _nodes(root):
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:timestamp":
            try:
                loader.construct_yaml_timestamp(node)
            except ValueError:
                return node.start_mark.line + 1
    return 0


def _yaml_error(path: Path, error: yaml.MarkedYAMLError) -> DefinitionError:
    mark = error.problem_mark or error.context_mark
    line = mark.line + 1 if mark is not None else 1
    what = "; ".join(part for part in (error.context, error.problem) if part)
    return DefinitionError(path, line, "", f"invalid YAML: {what or 'cannot parse'}")


def _duplicate_key(root: yaml.Node) -> yaml.ScalarNode | None:
    """The second occurrence of a key repeated in one mapping (YAML would silently keep the last)."""
    for node in _nodes(root):
        if isinstance(node, yaml.MappingNode):
            keys = [key for key, _ in node.value if isinstance(key, yaml.ScalarNode) and key.value != "<<"]
            seen: set[str] = set()
            for key in keys:
                if key.value in seen:
                    return key
                seen.add(key.value)
    return None


def _nodes(root: yaml.Node) -> Iterator[yaml.Node]:
    """Every node once (aliases may share nodes or even form cycles)."""
    stack, seen = [root], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        if isinstance(node, yaml.MappingNode):
            stack.extend(part for pair in reversed(node.value) for part in reversed(pair))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(reversed(node.value))


# ---- walking the node tree --------------------------------------------------------------------


def _child(spot: _Spot, key: str | int) -> _Spot | None:
    node = spot.node
    if isinstance(node, yaml.MappingNode):
        found = None
        for key_node, value_node in node.value:  # the last one wins, as when loading
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(key):
                found = _Spot((*spot.path, key_node.value), value_node, key_node.start_mark.line + 1)
        return found
    if isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
        item = node.value[key]
        return _Spot((*spot.path, key), item, item.start_mark.line + 1)
    return None


def _children(spot: _Spot) -> list[_Spot]:
    if isinstance(spot.node, yaml.SequenceNode):
        return [spot_ for index in range(len(spot.node.value)) if (spot_ := _child(spot, index))]
    if isinstance(spot.node, yaml.MappingNode):
        keys = [key.value for key, _ in spot.node.value if isinstance(key, yaml.ScalarNode)]
        return [spot_ for key in dict.fromkeys(keys) if (spot_ := _child(spot, key))]
    return []


def _scalar(spot: _Spot | None) -> str | None:
    return spot.node.value if spot is not None and isinstance(spot.node, yaml.ScalarNode) else None


def _locate(root: _Spot, loc: Loc) -> tuple[_Spot, Loc]:
    """Follow a pydantic loc through the file; return the deepest spot found and the parts not found."""
    spot = root
    for index, part in enumerate(loc):
        if part == "[key]" or (part in _STAGE_TAGS and index > 0 and isinstance(loc[index - 1], int)):
            continue  # dict-key marker or Stage discriminator tag: not in the YAML
        found = _child(spot, part)
        if found is None:
            rest = loc[index:]
            return spot, tuple(p for p in rest if p != "[key]" and p not in _STAGE_TAGS)
        spot = found
    return spot, ()


def _search(spot: _Spot, wanted: Callable[[str], bool]) -> _Spot | None:
    """The first key or scalar below `spot` (depth first, in file order) whose text is wanted."""
    stack, seen = [spot], {id(spot.node)}
    while stack:
        current = stack.pop()
        children = _children(current)
        for child in children:
            key = child.path[-1]
            value = _scalar(child)
            if (isinstance(key, str) and wanted(key)) or (value is not None and wanted(value)):
                return child
        fresh = [child for child in children if id(child.node) not in seen]
        seen.update(id(child.node) for child in fresh)
        stack.extend(reversed(fresh))
    return None


def _steps(root: _Spot) -> list[_Spot]:
    """Every step mapping, parallel groups flattened, in file order."""
    stages = _child(root, "steps")
    found: list[_Spot] = []
    for stage in _children(stages) if stages else []:
        inner = _child(stage, "parallel")
        found.extend(_children(inner) if inner and isinstance(inner.node, yaml.SequenceNode) else [stage])
    return found


def _second_with_id(spots: list[_Spot], wanted: str | None = None) -> _Spot | None:
    """The `id:` of the second entry sharing an id (the first repeated one, or `wanted`)."""
    seen: set[str] = set()
    for spot in spots:
        ident = _scalar(_child(spot, "id"))
        if ident is not None and ident in seen and wanted in (None, ident):
            return _child(spot, "id")
        seen.add(ident or "")
    return None


# ---- turning pydantic errors into file:line errors -------------------------------------------


def _validation_errors(
    path: Path, document: _Document, error: ValidationError, keys: frozenset[str]
) -> list[DefinitionError]:
    """Each pydantic error at its line; `keys` are the keys the file may use, for `did you mean`."""
    details = _without_noise(error.errors(include_url=False, include_context=False, include_input=False))
    errors = []
    for detail in details:
        if not detail["loc"] and "\n" in detail["msg"]:  # a whole-workflow check found several problems
            for line in detail["msg"].removeprefix("Value error, ").splitlines():
                errors.append(_to_error(path, document.root, {**detail, "msg": line}, keys))
        else:
            errors.append(_to_error(path, document.root, detail, keys))
    return errors


def _without_noise(details: list[ErrorDetails]) -> list[ErrorDetails]:
    """Drop `too_short` errors that only echo a failed item below them."""
    locs = [tuple(detail["loc"]) for detail in details]

    def echoes(loc: Loc) -> bool:
        return any(len(other) > len(loc) and other[: len(loc)] == loc for other in locs)

    return [d for d in details if not (d["type"] == "too_short" and echoes(tuple(d["loc"])))]


def _to_error(path: Path, root: _Spot, detail: ErrorDetails, keys: frozenset[str]) -> DefinitionError:
    message = _message(detail, keys)
    loc = tuple(detail["loc"])
    if not loc:
        spot, message = _model_spot(root, message)
        return DefinitionError(path, spot.line, _render(spot.path), message)
    spot, rest = _locate(root, loc)
    if not rest and detail["type"] == "value_error":  # a validator's own message: narrow it down
        spot = _focus(spot, message)
    return DefinitionError(path, spot.line, _render(spot.path + rest), message)


def _message(detail: ErrorDetails, keys: frozenset[str]) -> str:
    kind, loc = detail["type"], detail["loc"]
    if kind == "missing":
        return "required, but missing"
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):  # the second from a dataclass (Person)
        close = difflib.get_close_matches(str(loc[-1]), sorted(keys), n=1, cutoff=0.75) if loc else []
        return f"unknown key; did you mean {close[0]!r}?" if close else "unknown key"
    if kind == "string_pattern_mismatch" and any(part == "owners" for part in loc):
        return "must be a Slack user ID such as U0123ABCD (owners are people, not groups)"
    if kind in ("tuple_type", "list_type"):
        return "must be a list, one `- item` per line"
    if kind in ("model_type", "dict_type", "model_attributes_type", "dataclass_type", "dataclass_args_type"):
        return "must be a mapping of keys to values (such as `{before: 4h, repeat: 1d}`), not a single value"
    return detail["msg"].removeprefix("Value error, ")


def _model_spot(root: _Spot, message: str) -> tuple[_Spot, str]:
    """Where a whole-workflow error (empty loc) belongs, judged by its message; the message without prefix."""
    if match := re.match(r"step ([a-z0-9_]+): (.*)", message, re.DOTALL):
        step = next((s for s in _steps(root) if _scalar(_child(s, "id")) == match[1]), None)
        return (_focus_or_id(step, match[2]) if step else root), match[2]
    if match := re.match(r"defaults\.([a-z_]+)(?:\.([a-z_]+))?: (.*)", message, re.DOTALL):
        spot = _child(root, "defaults") or root
        for key in (match[1], match[2]):
            if key and (child := _child(spot, key)):
                spot = child
        return spot, match[3]
    if match := re.match(r"start: (.*)", message, re.DOTALL):
        start = _child(root, "start")
        return (_focus(start, match[1]) if start else root), match[1]
    return _whole_workflow_spot(root, message) or _focus(root, message), message


def _focus_or_id(step: _Spot, message: str) -> _Spot:
    focused = _focus(step, message)
    return focused if focused is not step else (_child(step, "id") or step)


def _whole_workflow_spot(root: _Spot, message: str) -> _Spot | None:
    if match := re.match(r"step ids must be unique; repeated: ([a-z0-9_]+)", message):
        return _second_with_id(_steps(root), match[1])
    if message.startswith("form field ids must be unique"):
        form = _child(root, "form")
        return _second_with_id(_children(form)) if form else None
    if match := re.match(r"start\.form\.(\w+):", message):  # a scheduled start's form value
        start = _child(root, "start")
        form = _child(start, "form") if start else None
        return (_child(form, match[1]) or form) if form else start
    if message.startswith("start.on_team_join"):
        start = _child(root, "start")
        return (_child(start, "on_team_join") or start) if start else None
    if match := re.match(r"defaults may set .*; not ([^,]+)", message):
        defaults = _child(root, "defaults")
        return (_child(defaults, match[1]) or defaults) if defaults else None
    return None


def _focus(spot: _Spot, message: str) -> _Spot:
    """Narrow an error on a block down to the key or value its message is about."""
    clause = message.split(";")[0]
    if _CONDITION.search(clause) and (when := _child(spot, "when")):
        return when
    exact, contained = _fragments(clause)
    if exact or contained:
        found = _search(spot, lambda text: text.strip() in exact or any(c in text for c in contained))
        if found:
            return found
    for word in _WORD.findall(clause):
        if child := _child(spot, word):
            return child
    return spot


def _fragments(message: str) -> tuple[set[str], set[str]]:
    """Texts an error message names: values to find exactly, and placeholders to find inside text."""
    exact = {a or b for a, b in _QUOTED.findall(message)}
    exact |= {f"group:{name}" for name in exact}
    if match := _LEADING_REF.match(message):
        exact.add(match[1])
    contained = {"{" + name + "}" for name in _PLACEHOLDER.findall(message)}
    return exact, contained


def _render(path: Loc) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
