"""The sandbox page in a real browser: a whole expense approval by clicking, as three people, then time and Home;
and a stuck expense that time travel turns into a reminder for the approver and an escalation above her."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.sandbox import Sandbox
from bot.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("chromium not installed at /usr/bin/chromium: apt-get install chromium", allow_module_level=True)
pytest.importorskip("playwright.async_api", reason="playwright not installed: pip install -e '.[test]'")

from playwright.async_api import Locator, Page, async_playwright, expect  # noqa: E402

PROJECT = Path(__file__).resolve().parents[1]
ARTIFACTS = PROJECT / "test-artifacts"
DOCS_SCREENSHOT = PROJECT / "docs" / "sandbox.png"  # refreshed with UPDATE_DOCS_SCREENSHOT=1
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]
ALICE, MARIA, FIONA, DIRK = "U0ALICE", "U0MARIA", "U0FIONA", "U0DIRK"
HOLIDAY_MORNINGS = 3  # org.yaml's longest run of weekday holidays is 2 (Thu-Fri Dec 24-25, Dec 31-Jan 1 2026)


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    workflows = tmp_path / "workflows"
    shutil.copytree(PROJECT / "workflows", workflows)
    settings = Settings(_env_file=None, workflows_dir=workflows)  # type: ignore[call-arg]
    running = Sandbox(settings, database=tmp_path / "sandbox.db")
    await running.start("127.0.0.1", 0)
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def page(sandbox: Sandbox) -> AsyncIterator[Page]:
    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            tab = await browser.new_page(viewport={"width": 1200, "height": 640})
            problems: list[str] = []
            tab.on("pageerror", lambda error: problems.append(str(error)))
            await tab.goto(sandbox.url)
            yield tab
            assert problems == [], problems
        finally:
            await browser.close()


async def act_as(page: Page, user_id: str) -> None:
    await page.select_option("#person", user_id)
    await page.click('[data-pane="dm"]')


async def travel(page: Page, by: str) -> None:
    """Click a time-travel button and wait until the sandbox has moved its clock and run Baton's tick."""
    button = page.locator(f'[data-advance="{by}"]')
    await button.click()
    await expect(button).to_be_enabled()  # disabled while the request (clock, then tick) is under way


async def wait_through_holidays(page: Page, target: Locator) -> None:
    """Wait for `target`; if it does not come, the working morning was an org.yaml holiday: try the next one.

    Only around Christmas does this click anything; the messages go out after the tick, through the outbox.
    """
    for _ in range(HOLIDAY_MORNINGS):
        try:
            await expect(target).to_be_visible(timeout=2_000)
            return
        except AssertionError:
            await travel(page, "morning")
    await expect(target).to_be_visible()


async def test_an_expense_over_1000_is_approved_by_manager_and_finance_by_clicking_in_the_page(page: Page) -> None:
    messages = page.locator("#messages")
    await expect(page.locator("#person")).to_have_value(ALICE)

    # Alice asks for help in #general: the answer is a private note.
    await page.click('[data-channel="C0GENERAL"]')
    await page.fill("#composer-input", "/workflow help")
    await page.press("#composer-input", "Enter")
    await expect(messages.locator(".msg.ephemeral")).to_contain_text("Only visible to you")

    # She starts the workflow and fills the modal; a bad amount is refused under the field.
    await page.fill("#composer-input", "/workflow start expense-approval")
    await page.press("#composer-input", "Enter")
    modal = page.locator(".modal")
    await expect(modal).to_contain_text("Expense approval")
    await modal.locator('[data-input="field:amount"]').fill("a lot")
    await modal.locator('[data-input="field:currency"]').select_option("EUR")
    await modal.locator('[data-input="field:reason"]').fill("Conference ticket for KubeCon")
    await modal.locator(".submit").click()
    await expect(modal.locator('[data-block-id="field:amount"] .field-error')).not_to_be_empty()
    await modal.locator('[data-input="field:amount"]').fill("1250")
    await page.screenshot(path=ARTIFACTS / "sandbox-1-form.png")
    await modal.locator(".submit").click()
    await expect(modal).to_have_count(0)
    await page.click('[data-pane="dm"]')
    await expect(messages).to_contain_text("under way")

    # Maria, her manager, approves from the DM; her copy is updated in place.
    await act_as(page, MARIA)
    task = messages.locator(".msg", has_text="Approve 1250")
    await task.locator('[data-action-id="task_approve"]').click()
    await expect(task.locator('[data-action-id="task_approve"]')).to_have_count(0)
    await expect(task).to_contain_text("pproved")

    # Fiona, in finance, gets the second approval.
    await act_as(page, FIONA)
    finance = messages.locator(".msg", has_text="Finance check")
    await expect(finance.locator('[data-action-id="task_approve"]')).to_be_visible()
    await page.screenshot(path=ARTIFACTS / "sandbox-2-finance.png")
    if os.environ.get("UPDATE_DOCS_SCREENSHOT"):
        shutil.copyfile(ARTIFACTS / "sandbox-2-finance.png", DOCS_SCREENSHOT)
    await finance.locator('[data-action-id="task_approve"]').click()
    await expect(finance.locator('[data-action-id="task_approve"]')).to_have_count(0)

    # Alice hears how it ended.
    await act_as(page, ALICE)
    await expect(messages).to_contain_text("was completed")
    await page.screenshot(path=ARTIFACTS / "sandbox-3-completed.png")

    # Time travel: a day later, as the header shows.
    clock = page.locator("#clock")
    before = await clock.inner_text()
    await page.click('[data-advance="day"]')
    await expect(clock).not_to_have_text(before)
    await expect(page.locator("#offset")).to_contain_text("+1 d")

    # App Home: opening it makes Baton publish it.
    await page.click('[data-pane="home"]')
    await expect(messages).to_contain_text("Your open tasks")
    await expect(messages).to_contain_text("Expense approval #1")
    await page.screenshot(path=ARTIFACTS / "sandbox-4-home.png")


async def test_an_expense_nobody_approves_brings_a_reminder_and_then_an_escalation_as_time_moves_on(page: Page) -> None:
    messages = page.locator("#messages")
    await expect(page.locator("#person")).to_have_value(ALICE)

    # Alice asks for 80 EUR: at most 1000, so only Maria, her manager, has to approve.
    await page.click('[data-channel="C0GENERAL"]')
    await page.fill("#composer-input", "/workflow start expense-approval")
    await page.press("#composer-input", "Enter")
    modal = page.locator(".modal")
    await expect(modal).to_contain_text("Expense approval")
    await modal.locator('[data-input="field:amount"]').fill("80")
    await modal.locator('[data-input="field:currency"]').select_option("EUR")
    await modal.locator('[data-input="field:reason"]').fill("Train to the customer")
    await modal.locator(".submit").click()
    await expect(modal).to_have_count(0)
    await page.click('[data-pane="dm"]')
    await expect(messages).to_contain_text("under way")

    # Maria has the task, and leaves it.
    await act_as(page, MARIA)
    task = messages.locator(".msg", has_text="Approve 80 EUR")
    await expect(task.locator('[data-action-id="task_approve"]')).to_be_visible()

    # workflows/expense-approval.yaml, step manager_approval: `due: 2d`, `remind: {before: 4h, repeat: 1d}`
    # (at_due is on by default), `escalate: {after: 1d, to: requester.manager}`. So Maria is reminded at
    # start + 2 d and daily after it, and the escalation is due at start + 3 d: three times "+1 day" reaches
    # both. requester.manager is Maria herself, the holder, so that rung is skipped and the admins are told:
    # org.yaml's `admins` group, Dirk, who is also Maria's manager.
    for _ in range(3):
        await travel(page, "day")
    await expect(page.locator("#offset")).to_contain_text("+3 d")

    # Both wait for the recipient's working hours (org.yaml `calendar`: Mon-Fri 09:00-17:00; Maria and Dirk
    # are in Europe/Berlin). The sandbox clock starts at the real time, so start + 3 d may be at night or on
    # a weekend: "Next working morning", acting as Maria, moves to 09:00 of the next weekday in her zone, when
    # both have gone out whatever the real date (on a working afternoon they went out at start + 3 d).
    await travel(page, "morning")
    await expect(page.locator("#clock")).to_contain_text("09:00")

    # Maria's reminder: overdue, with the task's own buttons and the Snooze menu. (Depending on the weekday
    # she may have had more than one by now, a day apart; the newest is checked.)
    snooze = page.locator("select", has_text="Snooze")  # the page shows a select's placeholder as its 1st option
    reminder = messages.locator(".msg").filter(has=snooze).last
    await wait_through_holidays(page, reminder)
    await expect(reminder).to_contain_text("Overdue by")
    await expect(reminder).to_contain_text("Approve 80 EUR")
    await expect(reminder.locator('[data-action-id="task_approve"]')).to_be_visible()
    options = reminder.locator("select", has_text="Snooze").locator("option")
    await expect(options).to_have_text(["Snooze", "1 hour", "Tomorrow morning", "Next week"])
    await page.screenshot(path=ARTIFACTS / "sandbox-5-reminder.png")

    # Dirk, above her, hears what is stuck and with whom, and may reassign it.
    await act_as(page, DIRK)
    escalation = messages.locator(".msg", has_text="Stuck: Approve 80 EUR")
    await wait_through_holidays(page, escalation)
    await expect(escalation).to_have_count(1)
    await expect(escalation).to_contain_text("past its due time with @Maria Manager")
    await expect(escalation.locator("select", has_text="Reassign to")).to_be_visible()
    await escalation.scroll_into_view_if_needed()  # Dirk's morning digest comes after it
    await page.screenshot(path=ARTIFACTS / "sandbox-6-escalation.png")


async def test_the_owner_sees_the_process_map_and_local_times_emoji_whole_names_and_the_more_menu(
    page: Page, sandbox: Sandbox
) -> None:
    messages = page.locator("#messages")
    started = await sandbox.baton.service.start(
        "expense-approval", ALICE, {"amount": 1250, "currency": "EUR", "reason": "Conference ticket"}
    )
    assert not hasattr(started, "reason"), started

    # Fiona owns expense-approval: its map, drawn as SVG, shows the steps and who waits where.
    await act_as(page, FIONA)
    await page.click('[data-pane="map"]')
    await page.select_option("#map-workflow", "expense-approval")
    drawing = messages.locator(".process-map svg")
    await expect(drawing).to_contain_text("Manager approval")
    await expect(drawing).to_contain_text("Finance check")
    await expect(drawing).to_contain_text("1 waiting now")
    await page.screenshot(path=ARTIFACTS / "sandbox-5-map.png")
    # Alice owns no workflow: the same refusal as in Slack, and no drawing.
    await page.select_option("#person", ALICE)
    await expect(messages.locator(".map-refusal")).to_contain_text("owners and Baton's admins")
    await expect(drawing).to_have_count(0)

    # Maria's task: its due time in her own zone (not the UTC fallback), emoji as emoji, and the ⋯ menu whole.
    await act_as(page, MARIA)
    task = messages.locator(".msg", has_text="Approve 1250")
    await expect(task.locator('[data-action-id="task_approve"]')).to_be_visible()
    await page.fill("#composer-input", f"/workflow status {started.instance.id}")  # type: ignore[union-attr]
    await page.press("#composer-input", "Enter")
    status = messages.locator(".msg.ephemeral").last
    await expect(status).to_contain_text("due")
    await expect(status).not_to_contain_text("UTC")
    await expect(messages).not_to_contain_text(re.compile(r":[a-z_]+:"))
    more = task.locator("select.overflow")
    assert await more.evaluate("s => getComputedStyle(s).appearance") == "none"
    assert await more.evaluate("s => s.options[0].text") == "⋯"

    # The Acting-as menu is as wide as the longest name it shows.
    fits = await page.locator("#person").evaluate(
        """s => { const probe = document.createElement('span'); probe.style.font = getComputedStyle(s).font;
                  probe.style.whiteSpace = 'pre'; probe.style.position = 'absolute'; document.body.append(probe);
                  const widest = Math.max(...[...s.options].map(o => { probe.textContent = o.text;
                                                                       return probe.offsetWidth; }));
                  probe.remove(); return [s.offsetWidth, widest]; }"""
    )
    assert fits[0] >= fits[1], fits


def readme_tour() -> list[str]:
    """The numbered steps of the README's "A five-minute tour", as written."""
    text = (PROJECT / "README.md").read_text(encoding="utf-8")
    tour = text.split("**A five-minute tour.**", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\d+\. (.+(?:\n   .+)*)", tour, re.M)


async def test_the_readme_tour_works_exactly_as_the_readme_tells_it(page: Page, sandbox: Sandbox) -> None:
    """Each block below is one step of the README's tour, doing and checking what that step says."""
    steps = readme_tour()
    assert len(steps) == 8, steps
    messages = page.locator("#messages")

    # 1. "You are Alice Example."
    assert "You are Alice Example" in steps[0]
    await expect(page.locator("#person")).to_have_value(ALICE)
    await expect(page.locator("#person option:checked")).to_contain_text("Alice Example")

    # 2. /workflow help in #general is a private note; the start form refuses `lots`, then takes 1250, EUR, a reason.
    for said in ("`#general`", "`/workflow help`", "Only visible to you", "`lots`", "`1250`", "`EUR`", "reason"):
        assert said in steps[1], said
    await page.click('[data-channel="C0GENERAL"]')
    await page.fill("#composer-input", "/workflow help")
    await page.press("#composer-input", "Enter")
    await expect(messages.locator(".msg.ephemeral")).to_contain_text("Only visible to you")
    await page.fill("#composer-input", "/workflow start expense-approval")
    await page.press("#composer-input", "Enter")
    modal = page.locator(".modal")
    await expect(modal).to_contain_text("Expense approval")
    await modal.locator('[data-input="field:amount"]').fill("lots")
    await modal.locator(".submit").click()
    await expect(modal.locator('[data-block-id="field:amount"] .field-error')).not_to_be_empty()
    await modal.locator('[data-input="field:amount"]').fill("1250")
    await modal.locator('[data-input="field:currency"]').select_option("EUR")
    await modal.locator('[data-input="field:reason"]').fill("Conference ticket for KubeCon")
    await modal.locator(".submit").click()
    await expect(modal).to_have_count(0)

    # 3. "Open Baton under Direct messages: Baton confirms the request."
    assert "*Baton* under *Direct messages*" in steps[2]
    await page.locator(".section-title", has_text="Direct messages").locator("xpath=following-sibling::a[1]").click()
    await expect(messages).to_contain_text("Expense approval #1")
    await expect(messages).to_contain_text("under way")

    # 4. Maria approves in her DM; her message changes in place; Reject… asks for a reason.
    assert "Maria Manager" in steps[3] and "*Approve*" in steps[3]
    await act_as(page, MARIA)
    task = messages.locator(".msg", has_text="Approve 1250")
    await task.locator('[data-action-id="task_reject"]').click()
    await expect(modal).to_contain_text("reason")
    await modal.locator(".cancel, .close").first.click()
    await expect(modal).to_have_count(0)
    await task.locator('[data-action-id="task_approve"]').click()
    await expect(task.locator('[data-action-id="task_approve"]')).to_have_count(0)
    await expect(task).to_contain_text("pproved")

    # 5. Fiona approves the finance check; Frank's copy of the same task changes too.
    assert "Fiona Finance" in steps[4] and "Frank Funds" in steps[4]
    await act_as(page, "U0FRANK")
    franks = messages.locator(".msg", has_text="Finance check")
    await expect(franks.locator('[data-action-id="task_approve"]')).to_be_visible()
    await act_as(page, FIONA)
    finance = messages.locator(".msg", has_text="Finance check")
    await finance.locator('[data-action-id="task_approve"]').click()
    await expect(finance.locator('[data-action-id="task_approve"]')).to_have_count(0)
    await act_as(page, "U0FRANK")
    await expect(franks.locator('[data-action-id="task_approve"]')).to_have_count(0)
    await expect(franks).to_contain_text("Fiona Finance")

    # 6. Alice: completed; her Home shows her requests and what she can start; Fiona's process map.
    assert "*Baton · Home*" in steps[5] and "*Process map* under *Apps*" in steps[5]
    assert "rate it from 1 to 5" in steps[5]
    await act_as(page, ALICE)
    await expect(messages).to_contain_text("was completed")
    outcome = messages.locator(".msg", has_text="How did this go")
    await expect(outcome.locator('[data-action-id="request_rate_5"]')).to_be_visible()
    await expect(outcome.locator('[data-action-id="request_rate_1"]')).to_be_visible()
    await page.click('[data-pane="home"]')
    await expect(messages).to_contain_text("Expense approval #1")
    await expect(messages).to_contain_text("Start something")  # what she can start, one button a workflow
    await expect(messages.get_by_role("button", name="Expense approval")).to_be_visible()
    await act_as(page, FIONA)
    await page.locator(".section-title", has_text="Apps").locator("xpath=..").locator('[data-pane="map"]').click()
    await page.select_option("#map-workflow", "expense-approval")
    drawing = messages.locator(".process-map svg")
    await expect(drawing).to_contain_text("Manager approval")
    await expect(drawing).to_contain_text("Finance check")

    # 7. The three time buttons move the sandbox clock forward.
    for label in ("*+1 hour*", "*+1 day*", "*Next working morning*"):
        assert label in steps[6], label
    clock = page.locator("#clock")
    for by, offset in (("hour", "+1 h"), ("day", "+1 d")):
        before = await clock.inner_text()
        await travel(page, by)
        await expect(clock).not_to_have_text(before)
        await expect(page.locator("#offset")).to_contain_text(offset)
    await travel(page, "morning")
    await expect(clock).to_contain_text("09:00")

    # 8. A typo saved in the workflow file shows in the banner with file, line and field; undoing it clears it.
    assert "`type: aproval`" in steps[7]
    workflow = sandbox.workflows_dir / "expense-approval.yaml"
    original = workflow.read_text(encoding="utf-8")
    assert "type: approval" in original
    workflow.write_text(original.replace("type: approval", "type: aproval", 1), encoding="utf-8")
    banner = page.locator("#errors")
    await expect(banner).to_be_visible(timeout=10_000)
    line = next(number for number, text in enumerate(original.splitlines(), 1) if "type: approval" in text)
    await expect(banner).to_contain_text(f"expense-approval.yaml:{line}")
    await expect(banner).to_contain_text("steps[0].type")  # the field
    await expect(banner).to_contain_text("did you mean 'approval'?")
    workflow.write_text(original, encoding="utf-8")
    await expect(banner).to_be_hidden(timeout=10_000)
