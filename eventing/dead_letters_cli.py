"""The operators' command line for dead letters, for a shell in any livevote pod.

    python -m eventing.dead_letters_cli count
    python -m eventing.dead_letters_cli list [--limit 50] [--json]
    python -m eventing.dead_letters_cli show MESSAGE_ID
    python -m eventing.dead_letters_cli replay [MESSAGE_ID ...]

It reads the broker and namespace settings every service reads (``LIVEVOTE_RABBITMQ_URL``,
``LIVEVOTE_NAMESPACE``), and does what the admin API's dead-letter routes do, with the
same code (:mod:`eventing.dead_letters`): looking leaves the messages in place; a replay
sends them back to the queue each died in. Exit status 1 when ``show`` finds nothing or
a replay keeps a message it was asked for (its queue is gone), 3 when the broker cannot
be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence

from eventing.dead_letters import DeadLetter, DeadLetters
from eventing.settings import RuntimeSettings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m eventing.dead_letters_cli",
        description="Count, list, show and replay livevote's dead letters.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("count", help="how many dead letters there are")
    listing = commands.add_parser("list", help="the oldest dead letters, left in place")
    listing.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    show = commands.add_parser("show", help="one dead letter whole, as JSON")
    show.add_argument("message_id")
    replay = commands.add_parser(
        "replay", help="send dead letters back to their queues (all, or those named)"
    )
    replay.add_argument("message_ids", nargs="*", metavar="MESSAGE_ID")
    return parser


def _line(letter: DeadLetter) -> str:
    died = letter.died_at.isoformat() if letter.died_at else "-"
    return (
        f"{letter.id or '-':34} {letter.type or '-':34} {letter.queue or '-':24} "
        f"{letter.reason or '-':15} {letter.deaths:>6} {died}"
    )


async def run(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    letters = DeadLetters(RuntimeSettings())
    if args.command == "count":
        print(await letters.count())
    elif args.command == "list":
        if args.limit < 1:
            print("--limit must be at least 1", file=sys.stderr)
            return 2
        found, total = await letters.listing(args.limit)
        if args.json:
            for letter in found:
                print(letter.model_dump_json())
        else:
            print(f"{'ID':34} {'TYPE':34} {'QUEUE':24} {'REASON':15} {'DEATHS':>6} DIED AT")
            for letter in found:
                print(_line(letter))
            print(f"{len(found)} shown of {total}")
    elif args.command == "show":
        wanted = await letters.find(args.message_id)
        if wanted is None:
            print(f"no dead letter has message id {args.message_id}", file=sys.stderr)
            return 1
        print(json.dumps(wanted.model_dump(mode="json"), indent=2))
    else:
        ids = set(args.message_ids) if args.message_ids else None
        outcome = await letters.replay(ids)
        print(f"replayed {outcome.replayed}, kept {outcome.kept} (their queue is gone)")
        if ids is not None and outcome.replayed < len(ids):
            print(f"{len(ids) - outcome.replayed} of the named ones not replayed", file=sys.stderr)
            return 1
        if outcome.kept:
            return 1
    return 0


def main() -> None:
    try:
        status = asyncio.run(run())
    except ConnectionError as error:
        print(f"the broker is not reachable: {error}", file=sys.stderr)
        status = 3
    sys.exit(status)


if __name__ == "__main__":
    main()
