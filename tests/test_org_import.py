"""`python -m bot org import` as an admin runs it: a real process reading the emulated workspace over HTTP."""

from __future__ import annotations

import asyncio
import csv
import os
import shutil
import sys
from datetime import time
from pathlib import Path

from bot.catalog import load_catalog, load_org
from bot.emulator import SlackEmulator

from .conftest import BOT_TOKEN, PROJECT, WORKFLOWS, running_baton
from .story import copy_workflows, dm_containing, start_with_form

ALICE, FIONA = "U0ALICE", "U0FIONA"

ZONES = ("Europe/Berlin", "America/New_York", "Asia/Tokyo", "Europe/London", "Australia/Sydney")
NEWCOMERS = 3000


async def org_import(slack: SlackEmulator, workflows: Path, *args: str, token: bool = True) -> tuple[int, str, str]:
    """Run the command in a child process; the emulator answers it from this test's event loop meanwhile."""
    env = {**os.environ, "SLACK_API_URL": slack.api_url, "WORKFLOWS_DIR": str(workflows)}
    env.pop("SLACK_BOT_TOKEN", None)
    if token:
        env["SLACK_BOT_TOKEN"] = BOT_TOKEN
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "org", "import", *args,
        cwd=PROJECT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(child.communicate(), timeout=120)
    assert child.returncode is not None
    return child.returncode, out.decode(), err.decode()


def workflows_copy(tmp_path: Path, *, extra_org: str = "") -> Path:
    folder = tmp_path / "workflows"
    shutil.copytree(WORKFLOWS, folder)
    if extra_org:
        org = folder / "org.yaml"
        text = org.read_text()
        org.write_text(text.replace("\ngroups:", extra_org + "\ngroups:", 1))
    return folder


def newcomer(number: int) -> tuple[str, str]:
    return f"U9{number:06d}", f"person{number}@example.com"


async def test_a_workspace_of_thousands_with_an_hr_csv_updates_org_yaml_keeping_what_only_the_file_knows(
    tmp_path: Path, slack: SlackEmulator
) -> None:
    contractor = "\n  U0CONTRACT:\n    name: Carla Contractor   # not in Slack: hand-made, kept\n    manager: U0MARIA\n"
    workflows = workflows_copy(tmp_path, extra_org=contractor)
    for number in range(NEWCOMERS):
        user_id, email = newcomer(number)
        slack.add_user(user_id, name=f"p{number}", real_name=f"Person {number}", email=email,
                       tz=ZONES[number % len(ZONES)], title="Analyst" if number % 2 else "")  # fmt: skip
    slack.add_user("U9GONE", name="gone", real_name="Long Gone", email="gone@example.com", deleted=True)
    slack.add_user("B0OTHERBOT", name="otherbot", real_name="Other Bot", is_bot=True)
    slack.change_user("U0BOB", tz="Asia/Tokyo", real_name="Bob Builder-Smith")  # edited in Slack since
    slack.deactivate_user("U0FRANK")  # left the company: in finance, in org.yaml
    managers = tmp_path / "hr-export.csv"
    with managers.open("w", newline="") as out:
        hr = csv.writer(out)
        hr.writerow(["Employee ID", "Email", "Manager_Email"])
        for number in range(NEWCOMERS):
            boss = newcomer(number // 10)[1] if number >= 10 else "maria@example.com"
            hr.writerow([f"E{number}", newcomer(number)[1].upper(), boss])  # emails match whatever their case
        hr.writerow(["E-1", "alice@example.com", "bob@example.com"])  # Alice moved to Bob's team
        hr.writerow(["E-2", "nobody@elsewhere.example", "maria@example.com"])  # not in the workspace: skipped

    code, out, err = await org_import(slack, workflows, "--managers-csv", str(managers))
    assert code == 0, err
    added = NEWCOMERS + 1  # and Ada Admin, in Slack but not in the shipped org.yaml
    assert out.splitlines()[0] == f"{added} added, 2 updated, 1 removed, 1 kept as written (not in the workspace)"
    bob = "~ U0BOB (Bob Builder-Smith): name 'Bob Builder' → 'Bob Builder-Smith'; tz 'Europe/Berlin' → 'Asia/Tokyo'"
    assert bob in out
    assert "~ U0ALICE (Alice Example): manager U0MARIA → U0BOB" in out
    assert "- U0FRANK (Frank Funds): deactivated in Slack; taken out of group finance" in out
    pages = slack.calls_to("users.list")
    assert len(pages) >= NEWCOMERS // 200 and all(int(call.args["limit"]) == 200 for call in pages)

    org = load_org(workflows / "org.yaml")  # loads as Baton loads it
    assert len(org.people) == 12 - 1 + 1 + added  # the shipped, less Frank, plus the contractor and the newcomers
    person = org.people[newcomer(1234)[0]]
    assert (person.name, person.email, person.tz, person.title) == (
        "Person 1234", "person1234@example.com", ZONES[1234 % 5], None
    )
    assert person.manager == newcomer(123)[0] and org.people[newcomer(3)[0]].manager == "U0MARIA"
    assert org.people["U0BOB"].tz == "Asia/Tokyo" and org.people["U0ALICE"].manager == "U0BOB"
    assert org.people["U0ALICE"].title == "Software Engineer"  # Slack has no title for her: the file's stays
    assert "U0FRANK" not in org.people and org.groups["finance"] == ("U0FIONA",)
    assert "U9GONE" not in org.people and "B0OTHERBOT" not in org.people and "UBATONBOT" not in org.people
    assert org.people["U0CONTRACT"].name == "Carla Contractor"
    assert org.calendar.start == time(9, 0) and org.settings.digest_time == time(9, 0)  # still quoted "09:00"
    text = (workflows / "org.yaml").read_text()
    assert text.startswith("# org.yaml — who works here") and "# approves larger expenses" in text
    assert "# not in Slack: hand-made, kept" in text
    assert not load_catalog(workflows).errors  # every workflow still finds its people

    again = (workflows / "org.yaml").read_bytes()
    code, out, _ = await org_import(slack, workflows, "--managers-csv", str(managers))
    assert code == 0 and f"{workflows / 'org.yaml'} is up to date" in out
    assert (workflows / "org.yaml").read_bytes() == again  # nothing to change: not even rewritten


async def test_managers_from_slacks_manager_profile_field(tmp_path: Path, slack: SlackEmulator) -> None:
    workflows = workflows_copy(tmp_path)
    slack.add_profile_field("Xf0MANAGER", "Manager", type="user")
    slack.add_profile_field("Xf0DESK", "Desk", type="text")
    slack.change_user("U0ALICE", fields=(("Xf0MANAGER", "U0BOB"), ("Xf0DESK", "3rd floor")))
    slack.change_user("U0NEWBIE", fields=(("Xf0MANAGER", "U0ALICE"),))

    code, out, err = await org_import(slack, workflows, "--manager-field", "manager")
    assert code == 0, err
    org = load_org(workflows / "org.yaml")
    assert org.people["U0ALICE"].manager == "U0BOB" and org.people["U0NEWBIE"].manager == "U0ALICE"
    assert org.people["U0BOB"].manager == "U0MARIA"  # no value in Slack: the file's manager stays
    assert len(slack.calls_to("users.profile.get")) == len(org.people)  # each person once (Ada Admin joined)

    code, _, err = await org_import(slack, workflows, "--manager-field", "Boss")
    assert code == 2 and "the workspace has no profile field 'Boss' (its fields: Manager, Desk)" in err


async def test_a_dry_run_and_bad_input_change_nothing_and_say_why(tmp_path: Path, slack: SlackEmulator) -> None:
    workflows = workflows_copy(tmp_path)
    before = (workflows / "org.yaml").read_bytes()
    slack.add_user("U9NEW", name="new", real_name="Nora New", email="nora@example.com", tz="Europe/Paris")

    code, out, _ = await org_import(slack, workflows, "--dry-run")
    assert code == 0 and "+ U9NEW (Nora New)" in out and "dry run:" in out
    assert (workflows / "org.yaml").read_bytes() == before

    wrong = tmp_path / "wrong.csv"
    wrong.write_text("name,boss\nAlice,Maria\n")
    code, _, err = await org_import(slack, workflows, "--managers-csv", str(wrong))
    assert code == 2
    assert f"{wrong}:1: the CSV needs an email column and a manager_email column; it has name, boss" in err
    code, _, err = await org_import(slack, workflows, "--managers-csv", str(tmp_path / "missing.csv"))
    assert code == 2 and "cannot read" in err and "Traceback" not in err
    code, _, err = await org_import(slack, workflows, token=False)
    assert code == 2 and "SLACK_BOT_TOKEN" in err
    slack.bot_token_refused = "token_revoked"
    code, _, err = await org_import(slack, workflows)
    assert code == 2 and "Slack refused the token (token_revoked); check SLACK_BOT_TOKEN" in err
    assert (workflows / "org.yaml").read_bytes() == before

    slack.bot_token_refused = ""
    code, out, _ = await org_import(slack, workflows)
    assert code == 0 and load_org(workflows / "org.yaml").people["U9NEW"].tz == "Europe/Paris"


BY_EMAIL = """
name: laptop
title: Laptop
owners: [Fiona@Example.com]
start: {allowed: [alice@example.com, bob@example.com]}
form:
  - {id: model, label: Model}
steps:
  - id: buy
    type: approval
    title: Buy {form.model}
    assignee: fiona@example.com
    due: 3 days
    escalate: {after: 2 days, to: [dirk@example.com]}
"""


async def test_people_named_by_email_in_a_workflow_file_get_the_task(tmp_path: Path, slack: SlackEmulator) -> None:
    workflows = copy_workflows(tmp_path / "workflows", laptop=BY_EMAIL)
    catalog = load_catalog(workflows)
    assert not catalog.errors, catalog.errors
    laptop = catalog.workflows["laptop"]
    assert laptop.owners == ("U0FIONA",) and laptop.start.allowed == ("U0ALICE", "U0BOB")
    buy = laptop.all_steps()[0]
    assert buy.assignee == ("U0FIONA",) and buy.escalate is not None and buy.escalate.to == ("U0DIRK",)

    async with running_baton(tmp_path, slack, workflows_dir=workflows) as (_baton, driver):
        await start_with_form(driver, slack, ALICE, "laptop", model="X1 Carbon")
        task = await dm_containing(slack, FIONA, "Buy X1 Carbon")
        assert "Approve" in str(task.blocks)

    misspelt = BY_EMAIL.replace("assignee: fiona@example.com", "assignee: fiona@exampel.com")
    (workflows / "laptop.yaml").write_text(misspelt)
    errors = [str(error) for error in load_catalog(workflows).errors]
    assert len(errors) == 1 and "laptop.yaml:12: steps[0].assignee: 'fiona@exampel.com' is not the email" in errors[0]
    assert "of anyone in org.yaml (did you mean 'fiona@example.com'?)" in errors[0]
