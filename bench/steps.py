"""How long does a Workflow Builder step wait for Baton: the answer to `function_executed`, and the completion
after the decision?

Run: `.venv/bin/python bench/steps.py [--steps N] [--rounds R]` (defaults 20 and 3)

Each round starts a fresh Baton (the real `Baton`: SQLite file in a temporary directory, scheduler, outbox sender,
HTTP server) and the Slack emulator in this process, with the shipped workflows and the steps of manifest.yml.
1. N request_approval executions are sent as signed function_executed events, 8 in flight. Timed: each answer
   (Baton answers once the request and the execution are committed).
2. Once every approver has the DM, each approval is clicked (signed, 8 in flight). Timed: from sending the click
   to the moment the emulator accepted that execution's functions.completeSuccess (the decision committed, the
   completion queued in the same transaction, then sent by the outbox, paced by its tier).
Printed per round, then min / median / max over the rounds of each round's median and max. Never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import Baton  # noqa: E402
from bot.emulator import SlackDriver, SlackEmulator, find_action  # noqa: E402
from bot.emulator.records import RecordedCall  # noqa: E402
from bot.settings import Settings  # noqa: E402

PROJECT = Path(__file__).resolve().parents[1]
TOKEN, SECRET = "xoxb-bench", "bench-signing-secret"
IN_FLIGHT = 8


async def bounded(jobs: list[Any]) -> list[Any]:
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def one(job: Any) -> Any:
        async with gate:
            return await job

    return await asyncio.gather(*(one(job) for job in jobs))


async def timed(call: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = await call
    return time.perf_counter() - started, result


async def one_round(steps: int) -> tuple[list[float], list[float]]:
    org = yaml.safe_load((PROJECT / "workflows" / "org.yaml").read_text())
    people = sorted(org["people"])
    slack = SlackEmulator(bot_token=TOKEN)
    for user_id, person in org["people"].items():
        slack.add_user(user_id, name=user_id.lower(), real_name=person["name"], tz=person.get("tz") or "UTC")
    slack.define_functions(yaml.safe_load((PROJECT / "manifest.yml").read_text())["functions"])
    completed_at: dict[str, float] = {}

    async def watch(call: RecordedCall) -> None:
        if call.method == "functions.completeSuccess" and call.response.get("ok"):
            completed_at[str(call.args["function_execution_id"])] = time.perf_counter()

    slack.on_call(watch)
    await slack.start()
    with tempfile.TemporaryDirectory() as directory:
        settings = Settings(
            _env_file=None,
            slack_bot_token=TOKEN,
            slack_signing_secret=SECRET,
            slack_api_url=slack.api_url,
            database_url=f"sqlite:///{Path(directory) / 'baton.db'}",
            workflows_dir=PROJECT / "workflows",
        )
        baton = Baton(settings)
        await baton.start()
        try:
            port = await baton.serve("127.0.0.1", 0)
            async with SlackDriver(f"http://127.0.0.1:{port}/slack/events", SECRET, slack) as driver:
                pairs = [(people[i % len(people)], people[(i + 1) % len(people)]) for i in range(steps)]
                inputs = [{"requester": r, "approvers": [a], "title": f"Item {i}"} for i, (r, a) in enumerate(pairs)]
                answers = await bounded([timed(driver.run_step("request_approval", given)) for given in inputs])
                executions = [execution_id for _latency, (_answer, execution_id) in answers]

                def dms() -> list[Any] | None:
                    found = [
                        next((m for m in slack.dm_messages(a) if f"Item {i}" in m.text), None)
                        for i, (_r, a) in enumerate(pairs)
                    ]
                    return found if all(found) else None

                messages = await slack.wait_for(dms, 60, what="every approval DM")
                clicked_at: dict[str, float] = {}

                async def click(index: int) -> None:
                    message, (_r, approver) = messages[index], pairs[index]
                    assert find_action(message.blocks, "task_approve")
                    clicked_at[executions[index]] = time.perf_counter()
                    await driver.click_button_in(message, approver, "task_approve")

                await bounded([click(i) for i in range(steps)])
                await slack.wait_for(lambda: len(completed_at) == steps, 120, what="every completion")
        finally:
            await baton.stop()
            await slack.stop()
    return [latency for latency, _ in answers], [completed_at[e] - clicked_at[e] for e in executions]


def ms(values: list[float]) -> str:
    return f"{1000 * statistics.median(values):7.1f} ms median, {1000 * max(values):7.1f} ms max"


def spread(values: list[float]) -> str:
    return " / ".join(f"{1000 * v:.1f}" for v in (min(values), statistics.median(values), max(values)))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    rounds = []
    for number in range(1, arguments.rounds + 1):
        answers, completions = await one_round(arguments.steps)
        rounds.append((answers, completions))
        print(f"round {number}: function_executed answered {ms(answers)}; decision to completion {ms(completions)}")
    print(f"\n{arguments.steps} steps a round, {IN_FLIGHT} in flight; min / median / max of {len(rounds)} rounds, ms:")
    print(f"  answer to function_executed, median: {spread([statistics.median(a) for a, _ in rounds])}")
    print(f"  answer to function_executed, max:    {spread([max(a) for a, _ in rounds])}")
    print(f"  click to completeSuccess, median:    {spread([statistics.median(c) for _, c in rounds])}")
    print(f"  click to completeSuccess, max:       {spread([max(c) for _, c in rounds])}")


if __name__ == "__main__":
    asyncio.run(main())
