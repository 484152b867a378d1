"""Run Baton as a real process (`python -m bot serve`) for crash tests, and kill it the hard way."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp

from bot.emulator import SlackEmulator

from .conftest import ADMIN, BOT_TOKEN, SIGNING_SECRET

PROJECT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class BatonProcess:
    """One `python -m bot serve` child process against the emulator and a given database (a file or a URL)."""

    def __init__(
        self,
        slack: SlackEmulator,
        database: Path | str,
        workflows: Path,
        log: Path,
        *,
        python: str = sys.executable,
        cwd: Path = PROJECT,
        **settings: str,
    ) -> None:
        """`python` and `cwd`: another installation of Baton (e.g. the container image's install replayed)."""
        self.port = free_port()
        self._python = python
        self._cwd = cwd
        self.url = f"http://127.0.0.1:{self.port}/slack/events"
        self._env = {
            **os.environ,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack.api_url,
            "DATABASE_URL": database if isinstance(database, str) else f"sqlite:///{database}",
            "WORKFLOWS_DIR": str(workflows),
            "BATON_ADMINS": ADMIN,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "SCHEDULER_INTERVAL_SECONDS": "0.2",
            **{name.upper(): value for name, value in settings.items()},
        }
        self._log = log
        self._process: subprocess.Popen[bytes] | None = None

    async def start(self, *, timeout: float = 15.0) -> None:
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(
                [self._python, "-m", "bot", "serve"], cwd=self._cwd, env=self._env, stdout=log, stderr=log
            )
        deadline = asyncio.get_running_loop().time() + timeout
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    async with session.get(f"http://127.0.0.1:{self.port}/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                if self._process.poll() is not None or asyncio.get_running_loop().time() > deadline:
                    raise RuntimeError(f"Baton did not start; log:\n{self._log.read_text()[-3000:]}")
                await asyncio.sleep(0.1)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def kill(self) -> int | None:
        """SIGKILL: no shutdown code runs, exactly like a crash or an OOM kill."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGKILL)
            return self._process.wait(timeout=10)
        return None

    async def terminate(self, *, timeout: float = 30.0) -> int | None:
        """SIGTERM, as a deploy or `kubectl delete pod` sends it; wait for the exit and return its status.
        The wait does not block the event loop: the emulator in this process must answer Baton's last calls."""
        if self._process is None or self._process.poll() is not None:
            return None
        self._process.terminate()
        deadline = asyncio.get_running_loop().time() + timeout
        while (status := self._process.poll()) is None:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"Baton did not exit within {timeout:.0f}s of SIGTERM")
            await asyncio.sleep(0.05)
        return status

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
