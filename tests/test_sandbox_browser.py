"""The sandbox page in a real browser: a whole expense approval by clicking, as three people, then time and Home."""

from __future__ import annotations

import os
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

from playwright.async_api import Page, async_playwright, expect  # noqa: E402

PROJECT = Path(__file__).resolve().parents[1]
ARTIFACTS = PROJECT / "test-artifacts"
DOCS_SCREENSHOT = PROJECT / "docs" / "sandbox.png"  # refreshed with UPDATE_DOCS_SCREENSHOT=1
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]
ALICE, MARIA, FIONA = "U0ALICE", "U0MARIA", "U0FIONA"


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    workflows = tmp_path / "workflows"
    shutil.copytree(PROJECT / "workflows", workflows)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=f"sqlite:///{tmp_path / 'sandbox.db'}",
        workflows_dir=workflows,
    )
    running = Sandbox(settings)
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
