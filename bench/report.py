"""What a run prints: the runs' answers and latencies, CPU per vote, peak memory, livevote
next to the peer, and the accounting."""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence

from bench.accounting import Accounting
from bench.ceilings import Ceiling
from bench.load import Run
from bench.meter import BENCH_CLIENT

# The goals for livevote against the peer: at least as many votes/s, a p99 at most
# half as long again, and at most a quarter more CPU per vote.
RATE_GOAL = 1.0
P99_GOAL = 1.5
CPU_GOAL = 1.25
# The store commands a vote's cost is made of, in the order shown.
COMMANDS_SHOWN = ("insert", "update", "delete", "find", "getMore", "aggregate")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(
            c.rjust(w) if i else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def report_runs(runs: Sequence[Run], ceiling: Ceiling) -> None:
    rows = []
    for run in runs:
        p50, p95, p99 = run.percentiles()
        accepted_rate = run.rate(run.accepted)
        rows.append(
            [
                run.name,
                len(run.samples),
                run.count(201),
                run.count(202),
                len(run.samples) - run.accepted,
                run.seconds,
                run.rate(run.count(201)),
                run.rate(run.count(202)),
                accepted_rate,
                p50,
                p95,
                p99,
                f"{accepted_rate / ceiling.rate:.3f}",
            ]
        )
    headers = ["run", "sent", "201", "202", "errors", "seconds", "201/s", "202/s"]
    headers += ["accepted/s", "p50 ms", "p95 ms", "p99 ms", "÷ ceiling"]
    print(table(headers, rows))
    for run in runs:
        for error, count in sorted(run.errors().items()):
            print(f"  {run.name}: {count:,} answered {error}")
    report_cpu(runs)
    report_store_commands(runs)
    report_memory(runs)


def report_cpu(runs: Sequence[Run]) -> None:
    """CPU milliseconds per accepted vote in each process, and the rate they allow."""
    measured = [run for run in runs if run.cpu and run.accepted]
    if not measured:
        return
    # Rows in the order of livevote's first run, where most processes have a share.
    first = next((run for run in measured if run.system == "livevote"), measured[0]).cpu
    groups = sorted({g for run in measured for g in run.cpu}, key=lambda g: (-first.get(g, 0), g))
    rows = []
    for group in groups:
        rows.append([group, *_per_vote(measured, group)])
    totals = [run.cpu_ms_per_vote for run in measured]
    rows.append(["all", *totals])
    cores = os.cpu_count() or 1
    rows.append([f"votes/s {cores} cores allow", *(cores * 1000 / t for t in totals)])
    print("\nCPU ms per accepted vote, from the first vote until all settled:")
    print(table(["process", *(run.name for run in measured)], rows))


def _per_vote(runs: Sequence[Run], group: str) -> list[object]:
    """The group's CPU ms per vote in each run; "-" where the run does not use it."""
    return [1000 * run.cpu[group] / run.accepted if group in run.cpu else "-" for run in runs]


def report_store_commands(runs: Sequence[Run]) -> None:
    """Store commands per accepted vote, by kind: what the store's CPU goes on."""
    measured = [run for run in runs if run.store_commands and run.accepted]
    if not measured:
        return
    shown = [c for c in COMMANDS_SHOWN if any(run.store_commands.get(c) for run in measured)]
    rows: list[list[object]] = [
        [
            command,
            *(f"{run.store_commands.get(command, 0.0) / run.accepted:.2f}" for run in measured),
        ]
        for command in shown
    ]
    rows.append(
        ["all", *(f"{sum(run.store_commands.values()) / run.accepted:.2f}" for run in measured)]
    )
    print("\nstore commands per accepted vote (every client's, the same span):")
    print(table(["command", *(run.name for run in measured)], rows))


def report_memory(runs: Sequence[Run]) -> None:
    """Each process's resident memory when the runs began and its peak during each run."""
    measured = [run for run in runs if run.memory is not None]
    if not measured:
        return
    # Each process at its size before the first run it was measured in; livevote's in the
    # order they were found, the peer's first and the bench client last.
    at_start: dict[str, int] = {}
    for run in measured:
        assert run.memory is not None
        for name, size in run.memory.at_start.items():
            at_start.setdefault(name, size)
    found = [
        name
        for run in measured
        if run.system == "livevote" and run.memory
        for name in run.memory.at_start
    ]
    order = list(dict.fromkeys(found + list(at_start)))
    names = sorted(order, key=lambda name: (name != "peer", name == BENCH_CLIENT))
    rows: list[list[object]] = []
    for name in names:
        peaks = [_mib(run.memory.peak.get(name)) if run.memory else "-" for run in measured]
        rows.append([name, _mib(at_start[name]), *peaks])
    totals = [_mib(run.memory.peak_total) if run.memory else "-" for run in measured]
    rows.append(["system (at one moment)", "", *totals])
    print("\npeak resident memory (RSS) in MiB during each run, next to the size at the start:")
    print(table(["process", "at start", *(run.name for run in measured)], rows))


def _mib(size: int | None) -> object:
    return "-" if size is None else size / 2**20


def report_comparison(pairs: Sequence[tuple[Run, Run]]) -> None:
    """The peer's run and livevote's of each kind side by side, and the goals."""
    if not pairs:
        return
    rows: list[list[object]] = []
    for peer, livevote in pairs:
        row: list[object] = [livevote.name]
        for theirs, ours, ratio in zip(
            _measures(peer), _measures(livevote), _ratios(peer, livevote), strict=True
        ):
            row += [theirs, ours, _shown(ratio)]
        rows.append(row)
    headers = ["kind", "peer votes/s", "livevote votes/s", "ratio", "peer p99 ms"]
    headers += ["livevote p99 ms", "ratio", "peer CPU ms/vote", "livevote CPU ms/vote", "ratio"]
    print(
        "\nlivevote next to the plain peer (same users, votings and concurrency; "
        "ratio = livevote ÷ peer):"
    )
    print(table(headers, rows))
    print(f"goals: votes/s ratio ≥ {RATE_GOAL}, p99 ratio ≤ {P99_GOAL}, CPU ratio ≤ {CPU_GOAL}")
    for peer, livevote in pairs:
        goals = _goals(peer, livevote)
        said = ", ".join(f"{what} {'met' if ok else 'not met'}" for what, ok in goals)
        print(f"  {livevote.name}: {said}")


def report_levels(levels: Sequence[tuple[int, Sequence[tuple[Run, Run]]]]) -> None:
    """Each concurrency's ratios to the peer (its rounds pooled) and the goals met there:
    where the batches livevote's stages make grow past the peer's one insert per vote."""
    rows: list[list[object]] = []
    for concurrency, pairs in levels:
        for peer, livevote in pairs:
            ratios = map(_shown, _ratios(peer, livevote))
            met = [what for what, ok in _goals(peer, livevote) if ok]
            rows.append([concurrency, livevote.name, *ratios, ", ".join(met) or "-"])
    print("\neach concurrency's ratios (livevote ÷ peer, its rounds pooled):")
    print(table(["in flight", "kind", "votes/s", "p99", "CPU ms/vote", "goals met"], rows))


def _goals(peer: Run, livevote: Run) -> list[tuple[str, bool]]:
    """Each goal, and whether ``livevote`` meets it against ``peer``."""
    (peer_rate, peer_p99, peer_cpu), (rate, p99, cpu) = _measures(peer), _measures(livevote)
    return [
        ("votes/s", rate >= RATE_GOAL * peer_rate),
        ("p99", p99 <= P99_GOAL * peer_p99),
        ("CPU", cpu <= CPU_GOAL * peer_cpu),
    ]


def report_rounds(rounds: Sequence[Sequence[tuple[Run, Run]]]) -> None:
    """Each round's ratios to the peer, and their median: how far one round may stray."""
    rows: list[list[object]] = []
    by_kind: dict[str, list[list[float | None]]] = {}
    for number, pairs in enumerate(rounds, start=1):
        for peer, livevote in pairs:
            ratios = _ratios(peer, livevote)
            by_kind.setdefault(livevote.name, []).append(ratios)
            rows.append([number, livevote.name, *map(_shown, ratios)])
    for kind, kind_ratios in by_kind.items():
        medians = [
            statistics.median(known) if (known := [r for r in column if r is not None]) else None
            for column in zip(*kind_ratios, strict=True)
        ]
        rows.append(["median", kind, *map(_shown, medians)])
    print("\neach round's ratios (livevote ÷ peer):")
    print(table(["round", "kind", "votes/s", "p99", "CPU ms/vote"], rows))


def _measures(run: Run) -> tuple[float, float, float]:
    """What the goals compare: votes/s, p99 in ms and CPU ms per vote."""
    return run.rate(run.accepted), run.percentiles()[2], run.cpu_ms_per_vote


def _ratios(peer: Run, livevote: Run) -> list[float | None]:
    """Each of livevote's measures divided by the peer's; None where the peer's is 0."""
    return [
        ours / theirs if theirs > 0 else None
        for theirs, ours in zip(_measures(peer), _measures(livevote), strict=True)
    ]


def _shown(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.2f}"


def report_accounting(name: str, accounting: Accounting) -> None:
    print(f"\n{name}: 201+202 answers = {accounting.answered:,}")
    print(f"  votes counted = {accounting.counted:,} (from {accounting.counted_source})")
    if accounting.debited_source:
        print(
            f"  credits debited = {_maybe(accounting.debited)} (from {accounting.debited_source})"
        )
    for note in [*accounting.notes, *accounting.problems]:
        print(f"  {note}")
    surplus = accounting.counted - accounting.answered
    if surplus > 0 and accounting.unanswered:
        print(
            f"  {surplus:,} more counted than confirmed; {accounting.unanswered:,} requests got "
            "no answer in time (503/timeout), and a vote the gateway gave up waiting for may "
            "still be counted"
        )
    elif surplus < 0:
        print(f"  {-surplus:,} accepted votes are not counted (still pending, or lost)")
    print(f"  accounted: {'yes' if accounting.ok else 'no'}")


def _maybe(value: int | None) -> str:
    return "unknown" if value is None else f"{value:,}"
