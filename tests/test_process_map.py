"""The live process map: laid out from the definition, drawn to PNG and SVG, sent by `/workflow map` end to end."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.app import Baton
from bot.catalog import load_catalog
from bot.emulator import SlackDriver, SlackEmulator
from bot.engine.flowmap import NodeKind, flow_layout
from bot.engine.kpis import parse_period
from bot.map_drawing import draw_map
from bot.process_map import process_map
from bot.service import Started
from bot.slack.maps import ACTION_OPEN_MAP, MAP_REFUSAL

from .conftest import ADMIN, WORKFLOWS
from .story import copy_workflows, dm_containing

ALICE, MARIA, FIONA = "U0ALICE", "U0MARIA", "U0FIONA"

_SEQUENTIAL = ["intake", "scoping", "budget_check", "legal_review", "security_review"]
_FIRST_GROUP = ["design_signoff", "data_protection", "procurement"]
_MIDDLE = ["vendor_choice", "contract_draft"]
_SECOND_GROUP = ["finance_signoff", "it_signoff", "facilities_signoff"]
_LAST = ["kickoff", "announce"]


def _step(step_id: str, *, when: str | None = None) -> str:
    words = step_id.replace("_", " ")
    condition = ", when: 'form.budget > 5000'" if when else ""
    return (
        f"{{id: {step_id}, type: approval, title: '{words.capitalize()} of {{form.project}}', "
        f"assignee: requester.manager{condition}}}"
    )


def fifteen_steps() -> str:
    """A 15-step workflow with two parallel groups of three and a condition."""
    lines = [_step(s, when="x" if s == "budget_check" else None) for s in _SEQUENTIAL]
    lines.append("parallel: [" + ", ".join(_step(s) for s in _FIRST_GROUP) + "]")
    lines += [_step(s) for s in _MIDDLE]
    lines.append("parallel: [" + ", ".join(_step(s) for s in _SECOND_GROUP) + "]")
    lines += [_step(s) for s in _LAST[:1]]
    lines.append("{id: announce, type: notify, to: requester, text: 'Project {form.project} starts'}")
    steps = "\n".join(f"  - {line}" for line in lines)
    return f"""
name: big-project
title: Big project
owners: [U0FIONA]
form:
  - {{id: project, label: Project}}
  - {{id: budget, label: Budget, type: number}}
steps:
{steps}
"""


@pytest.fixture
def workflows_dir(tmp_path: Path) -> Path:
    return copy_workflows(tmp_path / "workflows", **{"big-project": fifteen_steps()})


def test_parallel_steps_sit_side_by_side_and_conditions_label_their_edges(workflows_dir: Path) -> None:
    definition = load_catalog(workflows_dir).workflows["big-project"]
    layout = flow_layout(definition)
    steps = [node for node in layout.nodes if node.kind is NodeKind.STEP]
    assert len(steps) == 15 and layout.widest == 3
    rows = {node.step_id: node.row for node in steps}
    assert len({rows[s] for s in _FIRST_GROUP}) == 1 and len({rows[s] for s in _SECOND_GROUP}) == 1
    assert rows["vendor_choice"] == rows["design_signoff"] + 1
    conditioned = [edge for edge in layout.edges if edge.condition]
    assert [(edge.target, edge.condition) for edge in conditioned] == [("step-budget_check", "form.budget > 5000")]
    bypass = [edge for edge in layout.edges if edge.bypass]
    assert [(edge.source, edge.target) for edge in bypass] == [("step-scoping", "step-legal_review")]
    assert next(node.label for node in steps if node.step_id == "legal_review") == "Legal review"


@pytest.mark.parametrize("name", sorted(load_catalog(WORKFLOWS).workflows) + ["big-project"])
def test_every_workflow_draws_as_png_and_as_svg_with_its_steps_labels(workflows_dir: Path, name: str) -> None:
    definition = load_catalog(workflows_dir).workflows[name]
    drawn = process_map(definition, None, period_label="last 30 days")
    png = draw_map(drawn)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    svg = draw_map(drawn, image_format="svg").decode()
    assert svg.lstrip().startswith("<?xml") and "</svg>" in svg
    for node in drawn.layout.nodes:
        assert node.label in svg, node.label
    assert "waiting now" in svg


async def test_an_owner_gets_the_map_with_each_steps_load_and_the_bottleneck(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    for amount in (120, 130, 140):
        started = await baton.service.start("expense-approval", ALICE, {"amount": amount, "currency": "EUR",
                                                                        "reason": "taxi to the airport"})
        assert isinstance(started, Started), started
        if amount != 140:
            await baton.service.act(started.instance.open_tasks()[0].id, MARIA, "approve")
    answer = await driver.send_command(FIONA, "map expense-approval 30d")
    assert answer.status == 200 and "Drawing the map of *Expense approval* (last 30 days)" in answer.body
    note = await dm_containing(slack, FIONA, "Process map of Expense approval")
    assert "1 request waiting now" in note.text and "the bottleneck is Manager approval" in note.text
    upload = await slack.wait_for(lambda: next((f for f in slack.files if "baton-map" in f.filename), None))
    assert upload.content is not None and upload.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert upload.channels == (note.channel,)
    methods = [call.method for call in slack.calls if call.method.startswith("files.")]
    assert methods == ["files.getUploadURLExternal", "files.completeUploadExternal"]
    expense = baton.service.catalog.workflows["expense-approval"]
    svg = (await baton.maps.image(expense, parse_period("30d", baton.clock.now()), image_format="svg")).decode()
    assert "2 decided" in svg and "1 waiting now" in svg and "BOTTLENECK" in svg


async def test_the_map_is_refused_alike_to_non_owners_whether_the_workflow_exists_or_not(
    driver: SlackDriver, slack: SlackEmulator
) -> None:
    refused = await driver.send_command(ALICE, "map expense-approval")
    unknown = await driver.send_command(ALICE, "map no-such-thing")
    assert MAP_REFUSAL in refused.body and refused.body == unknown.body
    assert "Expense" not in refused.body
    assert '"response_type": "in_channel"' not in refused.body
    assert "There is no workflow called `no-such-thing`" in (await driver.send_command(ADMIN, "map no-such-thing")).body
    missing = await driver.send_command(FIONA, "map")
    assert "Which workflow?" in missing.body
    assert slack.files == []


async def test_the_owners_home_has_a_map_button_that_sends_the_map_and_a_forged_one_sends_nothing(
    driver: SlackDriver, slack: SlackEmulator
) -> None:
    await driver.open_home(FIONA)
    home = await slack.wait_for(lambda: (v := slack.home_view(FIONA)) and "Map: Expense approval" in str(v) and v)
    clicked = await driver.click(FIONA, action_id=f"{ACTION_OPEN_MAP}:0", value="expense-approval", view=home,
                                 block_id="process_maps")
    assert clicked.status == 200
    upload = await slack.wait_for(lambda: next((f for f in slack.files if "baton-map" in f.filename), None))
    assert upload.filename == "baton-map-expense-approval-last-30-days.png"
    await driver.open_home(ALICE)
    alice = await slack.wait_for(lambda: slack.home_view(ALICE))
    assert ACTION_OPEN_MAP not in str(alice)
    forged = await driver.click(ALICE, action_id=ACTION_OPEN_MAP, value="expense-approval", view=alice)
    assert forged.status == 200
    await asyncio.sleep(0.3)
    assert len(slack.files) == 1
