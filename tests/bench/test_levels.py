"""A bench run at several concurrencies: the levels asked for, and each level's ratios."""

import pytest

from bench.load import Run, Sample
from bench.options import parse_options
from bench.report import report_levels


def run(name: str, votes: int, seconds: float, latency: float, cpu: float) -> Run:
    return Run(name, [Sample(201, None, latency)] * votes, seconds, cpu={"all": cpu})


def test_levels_are_taken_in_the_order_given_the_first_made_first() -> None:
    options = parse_options(["--concurrency", "16,64,256"])

    assert options.concurrencies == (16, 64, 256)
    assert options.concurrencies[0] == 16
    assert parse_options([]).concurrencies == (64,)


@pytest.mark.parametrize("levels", ["16,x", "0", "16,16", ""])
def test_a_level_that_is_not_a_positive_number_or_comes_twice_is_refused(
    levels: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_options(["--concurrency", levels])

    assert exited.value.code == 2
    assert "--concurrency" in capsys.readouterr().err


def test_each_levels_ratios_and_the_goals_met_there_are_printed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    peer = run("peer free", 100, 1.0, 10.0, 0.2)  # 100 votes/s, 2 ms of CPU a vote
    slower = run("free", 100, 2.0, 20.0, 0.4)  # half the rate, twice the p99 and CPU
    faster = run("free", 100, 0.5, 12.0, 0.24)  # twice the rate, 1.2 times p99 and CPU

    report_levels([(16, [(peer, slower)]), (256, [(peer, faster)])])

    lines = capsys.readouterr().out.splitlines()
    assert lines[-2].split() == ["16", "free", "0.50", "2.00", "2.00", "-"]
    assert lines[-1].split() == ["256", "free", "2.00", "1.20", "1.20", "votes/s,", "p99,", "CPU"]
