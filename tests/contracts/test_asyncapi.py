import json
from pathlib import Path

from contracts.asyncapi import build, render
from contracts.envelope import message_types
from services.gateway.domain import PasswordSet

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.json"


def test_every_message_type_is_documented_with_its_envelope() -> None:
    document = build()
    documented = {m["name"] for m in document["components"]["messages"].values()}
    shared = {t for t, m in message_types().items() if m.__module__.startswith("contracts.")}
    assert documented == shared
    assert PasswordSet.type in message_types() and PasswordSet.type not in documented
    cast = document["components"]["messages"]["VoteCast"]["payload"]
    assert {"message_id", "correlation_id", "causation_id", "occurred_at"} <= set(
        cast["properties"]
    )
    assert document["channels"]["event.voting.vote_cast"]["address"] == "voting.vote_cast.*"
    # The wallet takes paid votes only.
    wallet_gets = document["operations"]["wallet.receives.voting.VoteCast"]["summary"]
    assert wallet_gets.endswith("(voting.vote_cast.paid)")
    assert "scheduler.receives.voting.VotingScheduled" in document["operations"]
    assert "voting.answers.voting.CastVote" in document["operations"]
    # What no process hears stays in its service's store.
    debited = document["operations"]["publish.wallet.CreditsDebited"]["summary"]
    assert debited == "wallet keeps CreditsDebited in its store: no process hears it"


def test_the_committed_document_is_up_to_date() -> None:
    assert DOCUMENT.exists(), "run `make asyncapi`"
    assert json.loads(DOCUMENT.read_text()) == json.loads(render()), "run `make asyncapi`"
