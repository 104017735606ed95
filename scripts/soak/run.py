"""``make soak MINUTES=N``: the mixed load under chaos, then the accounting.

Starts what the local stack lacks, a fake FCM server and ``--replicas`` processes of
every service in a namespace of their own; runs the load (:mod:`scripts.soak.load`) and
the chaos (:mod:`scripts.soak.chaos`) side by side for the given minutes; stops the
chaos, then the load; lets the system settle and checks its books
(:mod:`scripts.soak.accounting`). Exits 1 when the books do not balance.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import sys
import time
import uuid
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from scripts.fake_fcm import FakeFcm
from scripts.launch import LOCAL_STRIPE, System, free_port, local_stack
from scripts.soak.accounting import Accounts, account, settle
from scripts.soak.chaos import Chaos, ChaosLog
from scripts.soak.client import Api
from scripts.soak.load import Book, Load

ADMIN_EMAIL = "admin@soak.livevote.dev"


@dataclass
class Options:
    minutes: float
    replicas: int
    chaos_every: float
    seed: int
    log: Path


@dataclass
class Credentials:
    admin_email: str
    admin_password: str
    webhook_secret: str


@dataclass
class Outcome:
    book: Book
    chaos: ChaosLog
    accounts: Accounts
    settled_in: float
    retries: int


# Alerts within the soak's short votings; reminders in the seconds before they open.
SOAK_SETTINGS = {"LIVEVOTE_ALERT_LEAD_SECONDS": "15", "LIVEVOTE_REMINDER_LEAD_SECONDS": "1"}


def soak_env(namespace: str, fcm_url: str, credentials: Credentials) -> dict[str, str]:
    return {
        **os.environ,
        "LIVEVOTE_NAMESPACE": namespace,
        "LIVEVOTE_PORT": str(free_port()),
        "LIVEVOTE_ADMIN_EMAIL": credentials.admin_email,
        "LIVEVOTE_ADMIN_PASSWORD": credentials.admin_password,
        "LIVEVOTE_JWT_SECRET": secrets.token_urlsafe(48),
        "LIVEVOTE_LOG_FORMAT": "console",
        "LIVEVOTE_STRIPE_API_BASE": LOCAL_STRIPE,
        "LIVEVOTE_STRIPE_WEBHOOK_SECRET": credentials.webhook_secret,
        "LIVEVOTE_FCM_URL": fcm_url,
        **SOAK_SETTINGS,
    }


async def soak(system: System, options: Options, credentials: Credentials) -> Outcome:
    """Load and chaos on a running ``system`` for ``options.minutes``, then the books."""
    rng = random.Random(options.seed)
    api = Api(system.base_url)
    try:
        admin = await api.login(credentials.admin_email, credentials.admin_password)
        packs = (await api.read("/credit-packs", admin))["items"]
        pack = (str(packs[0]["id"]), int(packs[0]["credits"]))
        namespace = system.env["LIVEVOTE_NAMESPACE"]
        load = Load(api, admin, credentials.webhook_secret, pack, namespace, rng)
        chaos = Chaos(system, rng, options.chaos_every)
        loading = asyncio.create_task(load.run())
        chaotic = asyncio.create_task(chaos.run())
        await asyncio.sleep(options.minutes * 60)
        chaos.stop()
        await chaotic
        load.stop()
        await loading
        settled_in = await settle(api, admin, load.book)
        accounts = await account(api, admin, load.book)
        return Outcome(load.book, chaos.log, accounts, settled_in, api.retries)
    finally:
        await api.close()


def report(outcome: Outcome, options: Options) -> str:
    book, accounts = outcome.book, outcome.accounts
    lines = [
        f"soak: {options.minutes:g} min, {options.replicas} process(es) of each service, "
        f"seed {options.seed}",
        "chaos: " + ", ".join(f"{n} {a}" for a, n in sorted(outcome.chaos.actions.items())),
        f"users {len(book.users)}, client retries {outcome.retries}, gave up {len(book.gave_up)}",
        "answers:",
        *(f"  {count:>6}  {what}" for what, count in sorted(book.answers.items())),
        "accounting:",
        *(f"  {value:>6}  {name}" for name, value in accounts.facts.items()),
        f"  settled {outcome.settled_in:.1f} s after the load stopped",
    ]
    for letter in accounts.dead_letters:
        lines.append(f"  dead letter: {letter['type']} from {letter['queue']}: {letter['reason']}")
    for gave_up in book.gave_up[:10]:
        lines.append(f"  gave up: {gave_up}")
    if accounts.balanced:
        lines.append("the books balance")
    else:
        lines.append(f"{len(accounts.problems)} problem(s):")
        lines.extend(f"  {problem}" for problem in accounts.problems[:50])
    return "\n".join(lines)


def run(options: Options) -> Outcome:
    namespace = f"soak{uuid.uuid4().hex[:8]}"
    credentials = Credentials(
        ADMIN_EMAIL, secrets.token_urlsafe(16), f"whsec_{secrets.token_hex(16)}"
    )
    with ExitStack() as stack:
        stack.enter_context(local_stack())
        fcm = FakeFcm(free_port())
        fcm.start()
        stack.callback(fcm.stop)
        output = stack.enter_context(options.log.open("w"))
        env = soak_env(namespace, fcm.url, credentials)
        system = System(env, output=output, replicas=options.replicas)
        stack.callback(system.stop)
        system.start(timeout=120)
        outcome = asyncio.run(soak(system, options, credentials))
    return outcome


def parse(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m scripts.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--replicas", type=int, default=2, help="processes of each service")
    parser.add_argument(
        "--chaos-every", type=float, default=10.0, help="seconds between faults, on average"
    )
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--log", type=Path, default=Path("test-output/soak.log"))
    arguments = parser.parse_args(argv)
    arguments.log.parent.mkdir(parents=True, exist_ok=True)
    seed = arguments.seed if arguments.seed is not None else int(time.time())
    return Options(
        arguments.minutes, arguments.replicas, arguments.chaos_every, seed, arguments.log
    )


def main(argv: Sequence[str] | None = None) -> int:
    options = parse(argv)
    outcome = run(options)
    print(report(outcome, options), flush=True)
    return 0 if outcome.accounts.balanced else 1


if __name__ == "__main__":
    sys.exit(main())
