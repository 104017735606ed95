"""The bench's rounds pooled into one run per name: what the tables show for several."""

import pytest

from bench.load import Run, Sample
from bench.meter import Memory
from bench.report import report_rounds


def run(latencies: list[float], seconds: float, cpu: float, peak: int) -> Run:
    return Run(
        "free",
        [Sample(201, None, latency) for latency in latencies],
        seconds,
        cpu={"voting": cpu, "gateway": 2 * cpu},
        memory=Memory(at_start={"voting": peak // 2}, peak={"voting": peak}, peak_total=peak),
        store_commands={"insert": 10.0},
    )


def test_pooled_rounds_add_up_answers_seconds_cpu_and_commands() -> None:
    first, second = run([1.0, 2.0], 1.0, 0.5, 100), run([3.0, 4.0, 5.0], 2.0, 1.0, 80)

    pooled = Run.pooled([first, second])

    assert pooled.name == "free"
    assert pooled.accepted == 5
    assert pooled.seconds == 3.0
    assert pooled.rate(pooled.accepted) == 5 / 3
    assert pooled.cpu == {"voting": 1.5, "gateway": 3.0}
    assert pooled.cpu_ms_per_vote == 1000 * 4.5 / 5
    assert pooled.store_commands == {"insert": 20.0}


def test_pooled_memory_keeps_the_first_start_and_the_highest_peaks() -> None:
    pooled = Run.pooled([run([1.0], 1.0, 0.1, 100), run([1.0], 1.0, 0.1, 160)])

    assert pooled.memory is not None
    assert pooled.memory.at_start == {"voting": 50}
    assert pooled.memory.peak == {"voting": 160}
    assert pooled.memory.peak_total == 160


def test_latencies_of_every_round_make_the_pooled_percentiles() -> None:
    slow = run([100.0] * 50, 1.0, 0.1, 1)
    fast = run([1.0] * 50, 1.0, 0.1, 1)

    assert Run.pooled([fast, slow]).percentiles()[2] == 100.0
    assert Run.pooled([fast, slow]).percentiles()[0] < 100.0


def test_each_rounds_ratios_and_their_median_are_printed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    peer = run([10.0] * 10, 1.0, 0.1, 1)  # 10 votes/s, 0.3 s of CPU
    twice_as_slow = run([20.0] * 10, 2.0, 0.2, 1)
    as_fast = run([10.0] * 10, 1.0, 0.1, 1)
    no_cpu = Run("free", [Sample(201, None, 10.0)] * 10, 1.0)

    report_rounds([[(peer, twice_as_slow)], [(peer, as_fast)], [(no_cpu, as_fast)]])

    lines = capsys.readouterr().out.splitlines()
    assert lines[-4].split() == ["1", "free", "0.50", "2.00", "2.00"]
    assert lines[-3].split() == ["2", "free", "1.00", "1.00", "1.00"]
    # A peer run with no CPU measured has no CPU ratio, and the median leaves it out.
    assert lines[-2].split() == ["3", "free", "1.00", "1.00", "-"]
    assert lines[-1].split() == ["median", "free", "1.00", "1.00", "1.50"]
