"""Where a service's CPU time goes: services run under py-spy for their whole life, and the
functions with the most samples in its report, with the samples that are not the votes'
work (password hashing, imports, waiting) left out."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from scripts.launch import ROOT, ServiceProcess, System


def profiler_command() -> list[str] | None:
    """py-spy, installed or fetched from PyPI by uvx; None when neither works."""
    candidates = []
    if found := shutil.which("py-spy"):
        candidates.append([found])
    if uvx := shutil.which("uvx"):
        candidates.append([uvx, "--from", "py-spy", "py-spy"])
    for command in candidates:
        probe = subprocess.run([*command, "--version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return command
    return None


class ProfiledProcess(ServiceProcess):
    """A service started under py-spy, which samples it for its whole life.

    Started by py-spy rather than attached to: attaching needs ptrace rights that a
    container often lacks, a child process does not.
    """

    def __init__(
        self, service: str, env: dict[str, str], output: IO[str], profiler: list[str], report: Path
    ) -> None:
        super().__init__(service, env, output)
        self.report = report
        self.command = [
            *profiler,
            # Pausing the service for every sample slows it down too much on a busy machine.
            *("record", "--rate", "100", "--nonblocking", "--format", "raw"),
            *("--output", str(report), "--", sys.executable, "-m", f"services.{service}"),
        ]

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the service; py-spy then writes its report and exits."""
        if self.process is None or not self.running:
            return
        for pid in self._service_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            for pid in _descendants(self.process.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.kill()

    def _service_pids(self) -> list[int]:
        """The service's process: py-spy's child, or its grandchild under uvx."""
        assert self.process is not None
        return [
            pid
            for pid in _descendants(self.process.pid)
            if _argv(pid)[1:] == ["-m", f"services.{self.service}"]
        ]


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                found += [int(child), *_descendants(int(child))]
    return found


def _argv(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]
    except OSError:
        return []


def profile(
    system: System, services: Sequence[str], output: IO[str], out_dir: Path
) -> dict[str, Path] | str:
    """Run ``services`` under py-spy: where each one's report goes, or why it cannot be."""
    command = profiler_command()
    if command is None:
        return "py-spy is not installed here and uvx could not fetch it"
    reports: dict[str, Path] = {}
    for service in services:
        reports[service] = out_dir / f"{system.env['LIVEVOTE_NAMESPACE']}-{service}.collapsed"
        system.processes[service] = ProfiledProcess(
            service, system.processes[service].env, output, command, reports[service]
        )
    return reports


# Samples that are not the votes' work, by a word anywhere in the stack ...
LEAVE_OUT = {
    "argon2": "hashing passwords (signup and login of the users)",
    "importlib._bootstrap": "importing modules at start-up",
}
# ... or by the frame on top: a thread parked in C code below it. py-spy's own idle
# detection does not work in every container, so these are left out by name.
WAITING = {
    "EpollSelector.select (selectors.py)": "waiting in the event loop (epoll)",
    "Condition.wait (threading.py)": "threads waiting on a lock",
    "_worker (concurrent/futures/thread.py)": "idle worker threads",
    # uvloop runs in C below this frame: its I/O and its waiting look the same here.
    "Runner.run (asyncio/runners.py)": "in uvloop's C code (I/O or waiting; py-spy cannot tell)",
}


@dataclass(frozen=True)
class HotSpots:
    samples: int
    left_out: Counter[str]  # samples left out, by why
    own: list[tuple[float, str]]  # (percent, function): on top of the stack
    inclusive: list[tuple[float, str]]  # (percent, function): the project's, anywhere


def hot_spots(collapsed: Path, top: int = 12) -> HotSpots:
    """The functions with the most samples in a py-spy raw (collapsed stacks) report."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    left_out: Counter[str] = Counter()
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame(frame) for frame in stack.split(";")]
        why = next((why for word, why in LEAVE_OUT.items() if word in stack), None)
        if (why := why or WAITING.get(frames[-1])) is not None:
            left_out[why] += count
            continue
        own[frames[-1]] += count
        for frame in set(frames):
            if _is_project(frame):
                inclusive[frame] += count
    total = sum(own.values())

    def share(counter: Counter[str]) -> list[tuple[float, str]]:
        return [(100 * n / total, name) for name, n in counter.most_common(top)]

    return HotSpots(total, left_out, share(own), share(inclusive))


def _frame(frame: str) -> str:
    """``function (path/to/file.py:123)`` as ``function (file.py)``, lines merged."""
    match = re.match(r"(.*) \((.*?)(?::\d+)?\)$", frame)
    if match is None:
        return frame
    function, path = match.groups()
    return f"{function} ({_short_path(path)})"


def _short_path(path: str) -> str:
    for marker in ("site-packages/", "/lib/python3"):
        if marker in path:
            return path.split(marker, 1)[1]
    root = str(ROOT) + "/"
    return path.removeprefix(root)


def _is_project(frame: str) -> bool:
    return any(f"({package}/" in frame for package in ("services", "eventing", "contracts"))


def report_profiles(reports: dict[str, Path]) -> None:
    for service, path in reports.items():
        if not path.exists() or not path.stat().st_size:
            print(f"\nprofile of {service}: py-spy wrote no report (see the services' output)")
            continue
        spots = hot_spots(path)
        print(f"\nprofile of {service}, its whole run: {path}")
        print(f"  {spots.samples:,} samples at work; left out:")
        for why, samples in spots.left_out.most_common():
            print(f"    {samples:,} {why}")
        print("  most samples on top of the stack (self):")
        for percent, name in spots.own:
            print(f"    {percent:5.1f}%  {name}")
        print("  the project's functions with the most samples anywhere in the stack:")
        for percent, name in spots.inclusive:
            print(f"    {percent:5.1f}%  {name}")
