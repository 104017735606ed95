"""What a bench run is asked to do: its command-line options."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import bench
from contracts.topology import SERVICES
from scripts.launch import ROOT

OUT_DIR = ROOT / ".stack" / "bench"
# Votings of each kind a run may open: free and paid ones together stay within the 16
# that may overlap.
MAX_VOTINGS = 8


@dataclass(frozen=True)
class Options:
    users: int
    votes: int
    votings: int
    # Requests in flight: the rounds are made at each level in turn, in this order.
    concurrencies: tuple[int, ...]
    ceiling_messages: int
    ceiling_in_flight: int
    store_inserts: int
    settle_seconds: float
    profile: tuple[str, ...]
    replicas: int
    rounds: int
    keep: bool
    out_dir: Path


def _levels(text: str) -> tuple[int, ...]:
    """``16,64,256``: distinct positive numbers, in the order given."""
    try:
        levels = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number or list of numbers: {text!r}") from None
    if any(level < 1 for level in levels) or len(set(levels)) != len(levels):
        raise argparse.ArgumentTypeError(f"each level once, each at least 1: {text!r}")
    return levels


def parse_options(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench", description=bench.__doc__)
    parser.add_argument("--users", type=int, default=1000, help="users created (default 1000)")
    parser.add_argument(
        "--votes", type=int, help="votes per voting, one per user (default: --users)"
    )
    parser.add_argument(
        "--votings",
        type=int,
        default=1,
        help="votings of each kind, open at once; every voter votes in each (default 1)",
    )
    parser.add_argument(
        "--concurrency",
        type=_levels,
        default=(64,),
        help="requests in flight (default 64); several, comma-separated (16,64,256), make "
        "the rounds at each level in turn and compare the levels",
    )
    parser.add_argument(
        "--ceiling-messages", type=int, default=20_000, help="broker ceiling messages"
    )
    parser.add_argument(
        "--ceiling-in-flight", type=int, default=128, help="unconfirmed publishes at once"
    )
    parser.add_argument(
        "--store-inserts",
        type=int,
        default=3000,
        help="inserts to measure the store with, each way",
    )
    parser.add_argument(
        "--settle-seconds",
        type=float,
        default=60.0,
        help="how long pending votes may take to settle before the accounting",
    )
    parser.add_argument(
        "--profile",
        nargs="?",
        const="voting,gateway",
        default="",
        metavar="SERVICES",
        help="run these services under py-spy and show where their CPU time goes "
        "(default voting,gateway)",
    )
    parser.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="processes of each service (default 1); CPU per vote is summed per service",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="times the four runs are made, each round in votings of its own; the tables "
        "pool the rounds, and each round's ratios are shown (default 1)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the run's queues and data")
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR, help="logs and profiles")
    args = parser.parse_args(argv)
    votes = args.votes if args.votes is not None else args.users
    if not 0 < votes <= args.users:
        parser.error("--votes must be between 1 and --users: each user votes once per voting")
    if not 1 <= args.votings <= MAX_VOTINGS:
        # Free and paid ones are open at once, and the system allows 16 at a time.
        parser.error(f"--votings must be between 1 and {MAX_VOTINGS}")
    if args.replicas < 1:
        parser.error("--replicas must be at least 1")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    profiled = tuple(s for s in args.profile.split(",") if s)
    if unknown := set(profiled) - set(SERVICES):
        parser.error(f"--profile: no such service {', '.join(sorted(unknown))}")
    return Options(
        users=args.users,
        votes=votes,
        votings=args.votings,
        concurrencies=args.concurrency,
        ceiling_messages=args.ceiling_messages,
        ceiling_in_flight=args.ceiling_in_flight,
        store_inserts=args.store_inserts,
        settle_seconds=args.settle_seconds,
        profile=profiled,
        replicas=args.replicas,
        rounds=args.rounds,
        keep=args.keep,
        out_dir=args.out_dir,
    )
