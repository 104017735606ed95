"""A bench run names the store's durability: the peer's speed depends on it."""

import pytest

from bench.meter import ferretdb_described

FERRETDB = "/opt/bin/ferretdb"


@pytest.mark.parametrize(
    ("url", "described"),
    [
        ("file:/data/?_pragma=synchronous(normal)", "synchronous=normal"),
        ("file:/data/?_pragma=busy_timeout(100)&_pragma=synchronous(FULL)", "synchronous=full"),
        ("file:/data/", "synchronous=full (SQLite's default)"),
    ],
)
def test_a_sqlite_backed_store_is_named_with_when_it_syncs(url: str, described: str) -> None:
    command = [FERRETDB, "--handler=sqlite", f"--sqlite-url={url}", "--telemetry=disable"]

    assert ferretdb_described(command) == f"FerretDB, SQLite backend, {described}"


def test_another_backend_is_named() -> None:
    command = [FERRETDB, "--handler=postgresql", "--postgresql-url=postgres://127.0.0.1/db"]

    assert ferretdb_described(command) == "FerretDB, postgresql backend"
