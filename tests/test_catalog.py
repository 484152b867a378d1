"""Loading `workflows/`: shipped files are valid, broken files are reported at the right line."""

from __future__ import annotations

import shutil
import tempfile
import textwrap
from datetime import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.catalog import Catalog, CatalogError, DefinitionError, format_report, load_catalog, load_org
from bot.engine.definition import ParallelGroup, StepKind

WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"
SHIPPED = (
    "access-request", "approval", "content-review", "expense-approval", "onboarding", "project-task",
    "support-ticket",
)

GOOD = """\
name: good
title: Good
steps:
  - id: do_it
    title: Do it
    assignee: requester
"""


def _directory(tmp_path: Path, files: dict[str, str]) -> Path:
    shutil.copy(WORKFLOWS / "org.yaml", tmp_path / "org.yaml")
    for name, text in files.items():
        (tmp_path / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return tmp_path


def _only_error(catalog: Catalog) -> DefinitionError:
    assert len(catalog.errors) == 1, [str(error) for error in catalog.errors]
    return catalog.errors[0]


# ---- the shipped workflows --------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> Catalog:
    return load_catalog(WORKFLOWS)


def test_every_shipped_workflow_loads(shipped: Catalog) -> None:
    assert [str(error) for error in shipped.errors] == []
    assert shipped.names() == SHIPPED


def test_shipped_org_chart(shipped: Catalog) -> None:
    people = shipped.org.people
    assert people["U0ALICE"].manager == "U0MARIA"
    assert people["U0BOB"].manager == "U0MARIA"
    assert people["U0NEWBIE"].manager == "U0MARIA"
    assert people["U0MARIA"].manager == "U0DIRK"
    assert people["U0DIRK"].manager is None
    assert shipped.org.groups["finance"] == ("U0FIONA", "U0FRANK")
    assert shipped.org.groups["support"] == ("U0SUSI", "U0SAM")
    for group in ("hr", "it", "buddies", "system-owners", "admins"):
        assert shipped.org.groups[group]
    every_member = {member for members in shipped.org.groups.values() for member in members}
    managers = {person.manager for person in people.values() if person.manager}
    assert every_member | managers <= set(people)
    assert all(person.tz and person.email for person in people.values())


def test_expense_threshold_is_exactly_1000(shipped: Catalog) -> None:
    expense = shipped.get("expense-approval")
    assert expense is not None
    condition = expense.step("finance_approval").condition
    assert condition is not None
    amount = expense.field("amount")
    assert amount is not None
    assert not condition.evaluate({"amount": amount.validate_value("1,000")})
    assert condition.evaluate({"amount": amount.validate_value("1,000.01")})
    assert [step.id for step in expense.all_steps()] == ["manager_approval", "finance_approval", "reimburse"]


def test_onboarding_shape(shipped: Catalog) -> None:
    onboarding = shipped.get("onboarding")
    assert onboarding is not None
    first = onboarding.steps[0]
    assert isinstance(first, ParallelGroup)
    assert [step.id for step in first.parallel] == ["hr_paperwork", "it_setup", "manager_welcome"]
    welcome = onboarding.step("manager_welcome")
    assert welcome.assignee == ("form.manager", "form.new_hire.manager", "group:hr")
    assert onboarding.step("welcome").type is StepKind.NOTIFY
    assert onboarding.start.on_team_join == "new_hire"
    manager = onboarding.field("manager")
    assert manager is not None and not manager.required


def test_catalog_get_and_names(shipped: Catalog) -> None:
    assert shipped.get("nope") is None
    definition = shipped.get("support-ticket")
    assert definition is not None and definition.step("triage").due is not None


# ---- broken files: file and line -----------------------------------------------------------

BROKEN: list[tuple[str, str, str, int, str, str]] = [
    # (case, file name, content, line, field, part of the message)
    (
        "yaml syntax",
        "bad.yaml",
        """\
        name: bad
        title: Bad: really
        steps: []
        """,
        2, "", "invalid YAML",
    ),
    (
        "yaml indentation",
        "bad.yaml",
        """\
        name: bad
        title: Bad
        steps:
          - id: a
            title: A
           assignee: requester
        """,
        6, "", "invalid YAML",
    ),
    (
        "unknown key",
        "bad.yaml",
        """\
        name: bad
        title: Bad
        steps:
          - id: a
            title: A
            asignee: requester
        """,
        6, "steps[0].asignee", "did you mean 'assignee'",
    ),
    (
        "unknown key in a parallel step",
        "bad.yaml",
        """\
        name: bad
        title: Bad
        steps:
          - parallel:
              - id: a
                title: A
                assignee: requester
              - id: b
                title: B
                assignee: requester
                colour: blue
        """,
        11, "steps[0].parallel[1].colour", "unknown key",
    ),
    (
        "unknown key beside parallel",
        "bad.yaml",
        """\
        name: bad
        title: Bad
        steps:
          - parallel:
              - id: a
                title: A
                assignee: requester
            label: x
        """,
        8, "steps[0].label", "unknown key",
    ),
    (
        "bad duration",
        "bad.yaml",
        """\
        name: bad
        title: Bad
        steps:
          - id: a
            title: A
            assignee: requester
            due: soon
        """,
        7, "steps[0].due", "'soon' is not a duration",
    ),
    (
        "duration without unit",
        "bad.yaml",
        """\
        name: bad
        title: Bad
        steps:
          - id: a
            title: A
            assignee: requester
            due: 3
        """,
        7, "steps[0].due", "has no unit",
    ),
    (
        "unknown group",
        "bad.yaml",
        """\
        name: bad
        title: Bad
        steps:
          - id: a
            title: A
            assignee: group:legal
        """,
        6, "steps[0].assignee", "group 'legal' is not in org.yaml",
    ),
    (
        "unknown group in an escalation ladder",
        "bad.yaml",
        """\
        name: bad
        title: Bad
        steps:
          - id: a
            title: A
            assignee: requester
            due: 1d
            escalate:
              after: 1d
              to:
                - requester.manager
                - group:legal
        """,
        12, "steps[0].escalate.to[1]", "group 'legal'",
    ),
    (
        "form.x without such a field",
        "bad.yaml",
        """\
        name: bad
        title: Bad
        form:
          - id: amount
            label: Amount
            type: number
        steps:
          - id: a
            title: A
            assignee: requester
          - id: b
            title: B
            assignee: [requester.manager, form.approver]
        """,
        13, "steps[1].assignee[1]", "form.approver refers to a form field the form does not have",
    ),
    (
        "form.x that is not a user field",
        "bad.yaml",
        """\
        name: bad
        title: Bad
        form:
          - id: amount
            label: Amount
            type: number
        steps:
          - id: a
            title: A
            assignee: form.amount
        """,
        10, "steps[0].assignee", "must be a user field",
    ),
    (
        "template with a missing field",
        "bad.yaml",
        """\
        name: bad
        title: Bad
        steps:
          - id: a
            title: "Hello {requester}"
            assignee: requester
          - id: tell
            type: notify
            to: requester
            text: "Total: {form.total}"
        """,
        10, "steps[1].text", "{form.total} refers",
    ),
    (
        "when with a missing field",
        "bad.yaml",
        """\
        name: bad
        title: Bad
        form:
          - id: amount
            label: Amount
            type: number
        steps:
          - id: a
            title: A
            assignee: requester
            when: form.total > 5
        """,
        11, "steps[0].when", "condition uses form.total",
    ),
    (
        "when with forbidden syntax",
        "bad.yaml",
        """\
        name: bad
        title: Bad
        steps:
          - id: a
            title: A
            assignee: requester
            when: __import__('os').system('rm -rf /')
        """,
        7, "steps[0].when", "is not allowed in a condition",
    ),
    (
        "assignee that names nobody",
        "bad.yaml",
        """\
        name: bad
        title: Bad
        steps:
          - id: a
            title: A
            assignee:
              - requester.manager
              - the boss
        """,
        8, "steps[0].assignee[1]", "'the boss' does not name anyone",
    ),
    (
        "duplicate step ids",
        "bad.yaml",
        """\
        name: bad
        title: Bad
        steps:
          - id: a
            title: A
            assignee: requester
          - parallel:
              - id: b
                title: B
                assignee: requester
              - id: a
                title: Again
                assignee: requester
        """,
        11, "steps[1].parallel[1].id", "repeated: a",
    ),
    (
        "duplicate form field ids",
        "bad.yaml",
        """\
        name: bad
        title: Bad
        form:
          - id: amount
            label: Amount
          - id: amount
            label: Amount again
        steps:
          - id: a
            title: A
            assignee: requester
        """,
        6, "form[1].id", "form field ids must be unique",
    ),
    (
        "notify without text",
        "bad.yaml",
        """\
        name: bad
        title: Bad
        steps:
          - id: a
            title: A
            assignee: requester
          - id: tell
            type: notify
            to: requester
        """,
        7, "steps[1]", "a notify step needs `text`",
    ),
    (
        "task with notify keys",
        "bad.yaml",
        """\
        name: bad
        title: Bad
        steps:
          - id: a
            title: A
            assignee: requester
            text: hello
        """,
        7, "steps[0].text", "belong to notify steps",
    ),
    (
        "remind without due",
        "bad.yaml",
        """\
        name: bad
        title: Bad
        steps:
          - id: a
            title: A
            assignee: requester
            remind: {before: 1h}
        """,
        7, "steps[0].remind", "need a `due`",
    ),
    (
        "unknown step type",
        "bad.yaml",
        """\
        name: bad
        title: Bad
        steps:
          - id: a
            type: aproval
            title: A
            assignee: requester
        """,
        5, "steps[0].type", "Input should be 'task', 'approval', 'notify' or 'wait'",
    ),
    (
        "missing title",
        "bad.yaml",
        """\
        # A workflow without a title.
        name: bad
        steps:
          - id: a
            title: A
            assignee: requester
        """,
        2, "title", "required, but missing",
    ),
    (
        "missing step id",
        "bad.yaml",
        """\
        name: bad
        title: Bad
        steps:
          - id: a
            title: A
            assignee: requester
          - title: B
            assignee: requester
        """,
        7, "steps[1].id", "required, but missing",
    ),
    (
        "no steps",
        "bad.yaml",
        """\
        name: bad
        title: Bad
        steps: []
        """,
        3, "steps", "at least 1 item",
    ),
    (
        "select without options",
        "bad.yaml",
        """\
        name: bad
        title: Bad
        form:
          - id: colour
            label: Colour
            type: select
        steps:
          - id: a
            title: A
            assignee: requester
        """,
        4, "form[0]", "a select field needs options",
    ),
    (
        "select option without label",
        "bad.yaml",
        """\
        name: bad
        title: Bad
        form:
          - id: colour
            label: Colour
            type: select
            options:
              - {value: red, label: Red}
              - value: blue
        steps:
          - id: a
            title: A
            assignee: requester
        """,
        9, "form[0].options[1].label", "required, but missing",
    ),
    (
        "unknown start group",
        "bad.yaml",
        """\
        name: bad
        title: Bad
        start:
          allowed:
            - group:hr
            - group:legal
        steps:
          - id: a
            title: A
            assignee: requester
        """,
        6, "start.allowed[1]", "group 'legal'",
    ),
    (
        "on_team_join names no user field",
        "bad.yaml",
        """\
        name: bad
        title: Bad
        start:
          on_team_join: newbie
        steps:
          - id: a
            title: A
            assignee: requester
        """,
        4, "start.on_team_join", "must name a user field",
    ),
    (
        "unknown defaults",
        "bad.yaml",
        """\
        name: bad
        title: Bad
        defaults:
          due: 1d
          colour: red
        steps:
          - id: a
            title: A
            assignee: requester
        """,
        5, "defaults.colour", "defaults may set",
    ),
    (
        "title too long",
        "bad.yaml",
        """\
        name: bad
        title: A title that is far too long for Slack
        steps:
          - id: a
            title: A
            assignee: requester
        """,
        2, "title", "at most 24 characters",
    ),
    (
        "name differs from the file name",
        "bad.yaml",
        """\
        # name must match the file
        title: Bad
        name: expense
        steps:
          - id: a
            title: A
            assignee: requester
        """,
        3, "name", "must match the file name",
    ),
    (
        "duplicate yaml key",
        "bad.yaml",
        """\
        name: bad
        title: Bad
        steps:
          - id: a
            title: A
            assignee: requester
            title: B
        """,
        7, "", "'title' appears twice",
    ),
    ("empty file", "bad.yaml", "", 1, "", "the file is empty"),
    ("only comments", "bad.yaml", "# nothing here yet\n", 1, "", "the file is empty"),
    (
        "a list at the top level",
        "bad.yml",
        """\
        # oops, a list
        - name: bad
          title: Bad
        """,
        2, "", "not a list",
    ),
    ("a single value", "bad.yaml", "just some text\n", 1, "", "not a single value"),
    (
        "two documents",
        "bad.yaml",
        """\
        name: bad
        ---
        name: again
        """,
        2, "", "expected a single document",
    ),
    (
        "python tag",
        "bad.yaml",
        """\
        name: bad
        title: !!python/object/apply:os.system ["echo hi"]
        """,
        2, "", "invalid YAML",
    ),
    (
        "impossible date",
        "bad.yaml",
        """\
        name: bad
        title: Bad
        description: 2024-02-30
        """,
        3, "", "cannot read a value",
    ),
    (
        "non-string key",
        "bad.yaml",
        """\
        name: bad
        title: Bad
        1: one
        steps:
          - id: a
            title: A
            assignee: requester
        """,
        3, "1", "Keys should be strings",
    ),
    (
        "misspelt field type",
        "bad.yaml",
        """\
        name: bad
        title: Bad
        form:
          - id: kinds
            label: Kinds
            type: multiselect
            options: [{value: a, label: A}]
        steps:
          - id: a
            title: A
            assignee: requester
        """,
        6, "form[0].type", "not 'multiselect' (did you mean 'multi_select'?)",
    ),
    (
        "misspelt file field key",
        "bad.yaml",
        """\
        name: bad
        title: Bad
        form:
          - id: receipt
            label: Receipt
            type: file
            max_file: 3
        steps:
          - id: a
            title: A
            assignee: requester
        """,
        7, "form[0].max_file", "unknown key; did you mean 'max_files'?",
    ),
    (
        "misspelt selection count",
        "bad.yaml",
        """\
        name: bad
        title: Bad
        form:
          - id: kinds
            label: Kinds
            type: checkboxes
            options: [{value: a, label: A}]
            max_selectd: 2
        steps:
          - id: a
            title: A
            assignee: requester
        """,
        8, "form[0].max_selectd", "unknown key; did you mean 'max_selected'?",
    ),
    (
        "too many files for Slack",
        "bad.yaml",
        """\
        name: bad
        title: Bad
        form:
          - id: receipt
            label: Receipt
            type: file
            filetypes: [pdf]
            max_files: 11
        steps:
          - id: a
            title: A
            assignee: requester
        """,
        8, "form[0].max_files", "less than or equal to 10",
    ),
    (
        "not a file extension",
        "bad.yaml",
        """\
        name: bad
        title: Bad
        form:
          - id: receipt
            label: Receipt
            type: file
            filetypes: [pdf, "p n g"]
        steps:
          - id: a
            title: A
            assignee: requester
        """,
        7, "form[0].filetypes[1]", "'p n g' is not a file extension",
    ),
    (
        "too many checkboxes for Slack",
        "bad.yaml",
        """\
        name: bad
        title: Bad
        form:
          - id: kinds
            label: Kinds
            type: checkboxes
            options: [{value: a, label: A}, {value: b, label: B}, {value: c, label: C}, {value: d, label: D},
                      {value: e, label: E}, {value: f, label: F}, {value: g, label: G}, {value: h, label: H},
                      {value: i, label: I}, {value: j, label: J}, {value: k, label: K}]
        steps:
          - id: a
            title: A
            assignee: requester
        """,
        7, "form[0].options", "a checkboxes field offers at most 10 options",
    ),
    (
        "a selection count on a field without choices",
        "bad.yaml",
        """\
        name: bad
        title: Bad
        form:
          - id: note
            label: Note
            type: email
            max_selected: 2
        steps:
          - id: a
            title: A
            assignee: requester
        """,
        7, "form[0].max_selected", "min_selected and max_selected only apply to multi_select, multi_user and",
    ),
]


@pytest.mark.parametrize(
    ("filename", "content", "line", "field", "message"),
    [pytest.param(*case[1:], id=case[0]) for case in BROKEN],
)
def test_broken_file_is_reported_at_its_line(
    tmp_path: Path, filename: str, content: str, line: int, field: str, message: str
) -> None:
    catalog = load_catalog(_directory(tmp_path, {filename: content, "good.yaml": GOOD}))
    error = _only_error(catalog)
    assert (error.file.name, error.line, error.field) == (filename, line, field)
    assert message in error.message
    assert str(error).startswith(f"{tmp_path / filename}:{line}: ")
    assert catalog.names() == ("good",)


def test_not_utf8(tmp_path: Path) -> None:
    directory = _directory(tmp_path, {"good.yaml": GOOD})
    (directory / "bad.yaml").write_bytes(b"name: bad\ntitle: Caf\xe9\n")
    error = _only_error(load_catalog(directory))
    assert (error.file.name, error.line) == ("bad.yaml", 2)
    assert "not UTF-8" in error.message


def test_control_character(tmp_path: Path) -> None:
    directory = _directory(tmp_path, {"good.yaml": GOOD})
    (directory / "bad.yaml").write_text("name: bad\ntitle: a\x07b\n", encoding="utf-8")
    error = _only_error(load_catalog(directory))
    assert (error.file.name, error.line) == ("bad.yaml", 2)


def test_unreadable_file(tmp_path: Path) -> None:
    directory = _directory(tmp_path, {"good.yaml": GOOD})
    (directory / "folder.yaml").mkdir()
    error = _only_error(load_catalog(directory))
    assert (error.file.name, error.line) == ("folder.yaml", 0)
    assert "cannot read" in error.message
    assert str(error) == f"{directory / 'folder.yaml'}: {error.message}"


def test_defaults_with_a_number_key_is_reported(tmp_path: Path) -> None:
    bad = "name: bad\ntitle: Bad\ndefaults:\n  1: 2\nsteps:\n  - {id: a, title: A, assignee: requester}\n"
    error = _only_error(load_catalog(_directory(tmp_path, {"bad.yaml": bad, "good.yaml": GOOD})))
    assert (error.line, error.field) == (4, "defaults.1")


def test_deeply_nested_condition_is_reported(tmp_path: Path) -> None:
    when = "not " * 5000 + "form.x"
    bad = f"name: bad\ntitle: Bad\nsteps:\n  - {{id: a, title: A, assignee: requester, when: '{when}'}}\n"
    error = _only_error(load_catalog(_directory(tmp_path, {"bad.yaml": bad, "good.yaml": GOOD})))
    assert error.file.name == "bad.yaml"


def test_same_name_twice(tmp_path: Path) -> None:
    catalog = load_catalog(_directory(tmp_path, {"good.yaml": GOOD, "good.yml": "\n" + GOOD}))
    error = _only_error(catalog)
    assert (error.file.name, error.line, error.field) == ("good.yml", 2, "name")
    assert "already defined in" in error.message
    assert catalog.names() == ("good",)


def test_several_errors_in_one_file_and_no_noise(tmp_path: Path) -> None:
    bad = """\
    name: bad
    title: Bad
    steps:
      - id: a
        title: A
        assignee: requester
        due: later
      - parallel:
          - id: B
            title: B
            assignee: requester
    """
    catalog = load_catalog(_directory(tmp_path, {"bad.yaml": bad}))
    found = [(error.line, error.field) for error in catalog.errors]
    assert found == [(7, "steps[0].due"), (9, "steps[1].parallel[0].id")]


def test_absolute_paths_are_shown_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "workflows"
    directory.mkdir()
    (directory / "expense-approval.yaml").write_text("name: expense-approval\ntitle: X\nsteps: []\n")
    monkeypatch.chdir(tmp_path)
    error = _only_error(load_catalog(directory.resolve()))
    assert str(error) == "workflows/expense-approval.yaml:3: steps: " + error.message


def test_missing_directory() -> None:
    catalog = load_catalog(Path("/nonexistent/workflows"))
    assert catalog.workflows == {}
    assert "cannot list the directory" in _only_error(catalog).message


# ---- org.yaml ---------------------------------------------------------------------------------


def test_load_org(tmp_path: Path) -> None:
    assert load_org(tmp_path / "org.yaml").people == {}
    org = load_org(WORKFLOWS / "org.yaml")
    assert org.people["U0FIONA"].name == "Fiona Finance"


def test_load_org_reports_lines(tmp_path: Path) -> None:
    path = tmp_path / "org.yaml"
    path.write_text("people:\n  U0A:\n    name: A\n    boss: U0B\ngroups:\n  team: [U0A, bob]\n")
    with pytest.raises(CatalogError) as raised:
        load_org(path)
    assert [(e.line, e.field) for e in raised.value.errors] == [(4, "people.U0A.boss"), (6, "groups.team[1]")]
    path.write_text("people:\n  U0A:\n    name: A\ngroups:\n  team: [U0A, bob]\n")
    with pytest.raises(CatalogError) as raised:
        load_org(path)
    assert [(e.line, e.field) for e in raised.value.errors] == [(5, "groups.team[1]")]
    assert str(raised.value).startswith(f"{path}:5: groups.team[1]: group team: 'bob'")


def test_org_time_zones_are_checked_and_an_unquoted_digest_time_is_read_as_a_clock(tmp_path: Path) -> None:
    path = tmp_path / "org.yaml"
    path.write_text("people:\n  U0A:\n    name: A\n    tz: Europe/Berln\n")
    with pytest.raises(CatalogError) as raised:
        load_org(path)
    assert [(e.line, e.field) for e in raised.value.errors] == [(4, "people.U0A.tz")]
    assert "unknown time zone 'Europe/Berln'" in str(raised.value)
    path.write_text("settings:\n  daily_digest: true\n  digest_time: 10:00\n")  # YAML 1.1 reads 600
    assert load_org(path).settings.digest_time == time(10, 0)


def test_every_reference_mistake_in_a_file_is_reported_at_its_line(tmp_path: Path) -> None:
    many = """\
        name: many
        title: Many
        form:
          - {id: amount, label: Amount, type: number}
        steps:
          - id: a
            type: approval
            title: "Pay {form.amout} to {requestor}"
            assignee: group:financ
            when: form.amont > 5
          - id: b
            type: task
            title: "B {Requester}"
            assignee: requester.manager
        """
    errors = load_catalog(_directory(tmp_path, {"many.yaml": many})).errors
    assert sorted((e.line, e.field) for e in errors) == [
        (8, "steps[0].title"), (8, "steps[0].title"), (9, "steps[0].assignee"), (10, "steps[0].when"),
        (13, "steps[1].title"),
    ]


def test_mistakes_in_defaults_are_reported_at_defaults(tmp_path: Path) -> None:
    text = GOOD.replace("steps:", "defaults:\n  due: 2\n  remind: {before: 3}\nsteps:")
    errors = load_catalog(_directory(tmp_path, {"good.yaml": text})).errors
    assert [(e.line, e.field) for e in errors] == [(4, "defaults.due"), (5, "defaults.remind.before")]
    assert errors[0].message == "2 has no unit; write e.g. 2s, 2m, 2h or 2d"


def test_plain_words_for_the_usual_shape_mistakes(tmp_path: Path) -> None:
    files = {
        "owners.yaml": GOOD.replace("title: Good", "title: Good\nowners: [group:finance]"),
        "remind.yaml": GOOD.replace("name: good", "name: remind").replace(
            "assignee: requester", "assignee: requester\n    remind: 4h"),
        "form.yaml": GOOD.replace("name: good", "name: form").replace("title: Good", "title: Good\nform: {id: a}"),
    }
    messages = {error.file.name: error.message for error in load_catalog(_directory(tmp_path, files)).errors}
    assert "Slack user ID" in messages["owners.yaml"] and "not groups" in messages["owners.yaml"]
    assert messages["remind.yaml"].startswith("must be a mapping of keys to values")
    assert messages["form.yaml"] == "must be a list, one `- item` per line"


def test_broken_org_does_not_bury_the_workflows(tmp_path: Path) -> None:
    directory = _directory(tmp_path, {"good.yaml": GOOD.replace("requester\n", "group:finance\n")})
    (directory / "org.yaml").write_text("people:\n  U0X:\n    name: X\n    manager: U0X\n")
    catalog = load_catalog(directory)
    error = _only_error(catalog)
    assert (error.file.name, error.line) == ("org.yaml", 2)
    assert error.message == "U0X (X) cannot be their own manager"
    assert catalog.names() == ("good",)
    assert catalog.org.people == {}


def test_missing_org_means_no_groups(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(GOOD.replace("requester\n", "group:finance\n"))
    error = _only_error(load_catalog(tmp_path))
    assert (error.line, error.field) == (6, "steps[0].assignee")
    assert "(groups: none)" in error.message


# ---- the report -------------------------------------------------------------------------------


def test_format_report_of_the_shipped_workflows(shipped: Catalog) -> None:
    report = format_report(shipped)
    lines = report.splitlines()
    assert len(lines) == len(SHIPPED) + 1
    assert "expense-approval" in lines[3] and "Expense approval" in lines[3]
    assert "3 steps, 5 form fields" in lines[3]
    assert lines[-1] == "7 workflows loaded, 0 errors"


def test_format_report_lists_errors(tmp_path: Path) -> None:
    catalog = load_catalog(_directory(tmp_path, {"good.yaml": GOOD, "bad.yaml": "- 1\n"}))
    lines = format_report(catalog).splitlines()
    assert "good" in lines[0] and "1 step, 0 form fields" in lines[0]
    assert lines[1] == str(catalog.errors[0])
    assert lines[-1] == "1 workflow loaded, 1 error"  # not "1 errors"


# ---- never raises -----------------------------------------------------------------------------

_KEYS = st.sampled_from(
    ["name", "title", "steps", "form", "id", "type", "assignee", "to", "text", "when", "due", "remind",
     "escalate", "after", "parallel", "start", "allowed", "defaults", "label", "options", "value", "x"]
)
_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20),
    st.sampled_from(
        ["requester", "form.a", "group:finance", "1d", "task", "notify", "form.a > 1", "{form.a}"]
    ),
)
_YAMLISH = st.recursive(
    _SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_KEYS, children, max_size=6),
    max_leaves=30,
)


def _load_one(name: str, content: bytes) -> Catalog:
    with tempfile.TemporaryDirectory() as directory:
        (Path(directory) / name).write_bytes(content)
        catalog = load_catalog(Path(directory))
    assert all(error.file.name == name and error.line >= 0 for error in catalog.errors)
    assert all(isinstance(str(error), str) for error in catalog.errors)
    return catalog


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_any_text_never_raises(text: str) -> None:
    _load_one("fuzz.yaml", text.encode("utf-8", "surrogatepass"))


@settings(max_examples=100, deadline=None)
@given(st.binary())
def test_any_bytes_never_raise(content: bytes) -> None:
    _load_one("fuzz.yaml", content)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_KEYS, _YAMLISH, max_size=8))
def test_any_yamlish_mapping_never_raises(data: dict[str, Any]) -> None:
    catalog = _load_one("fuzz.yaml", yaml.safe_dump(data, allow_unicode=True).encode())
    assert catalog.errors or catalog.names() == ("fuzz",)
