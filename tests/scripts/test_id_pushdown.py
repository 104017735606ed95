"""The `_id` pushdown built into the local FerretDB: an `_id` range or an `_id` among other
conditions answers exactly what MongoDB answers, whatever characters the ids hold."""

from collections.abc import AsyncIterator
from typing import Any

import pytest
from bson import ObjectId
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from eventing.settings import RuntimeSettings

IDS = [
    "ada", "ada/", "ada/1", "ada/1 b", "ada/1!", 'ada/"', "ada/\\", "ada/<", "ada/&x",
    "ada/\x01", "ada/é", "ada/~", "ada/\x7f", "ada0", "ad", "adb", "b", 7, 7.5,
]  # fmt: skip


@pytest.fixture
async def collection(settings: RuntimeSettings) -> AsyncIterator[AsyncCollection[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongodb_url)
    collection = client[settings.database_name("pushdown")]["ids"]
    await collection.insert_many([{"_id": i, "n": n % 2} for n, i in enumerate(IDS)])
    yield collection
    await client.close()


def expected(low: str, high: str, *, strict: bool) -> list[Any]:
    """MongoDB's answer: strings only, compared by their UTF-8 bytes."""

    def inside(value: str) -> bool:
        key, lo, hi = value.encode(), low.encode(), high.encode()
        return (lo < key if strict else lo <= key) and (key < hi if strict else key <= hi)

    return sorted(i for i in IDS if isinstance(i, str) and inside(i))


@pytest.mark.parametrize(
    ("low", "high"),
    [("ada/", "ada/~"), ("ada/", "ada/\x7f"), ("ada", "ada0"), ("ada/1", "ada/1~"),
     ("a", "b"), ("ada/\x00", "ada/\uffff"), ('ada/"', "ada/<"), ("ada/1", "ada/")],
)  # fmt: skip
async def test_a_range_answers_what_mongodb_answers(
    collection: AsyncCollection[dict[str, Any]], low: str, high: str
) -> None:
    for strict, (lower, upper) in ((True, ("$gt", "$lt")), (False, ("$gte", "$lte"))):
        found = await collection.find({"_id": {lower: low, upper: high}}).to_list()
        assert sorted(d["_id"] for d in found) == expected(low, high, strict=strict)


async def test_an_id_among_other_conditions_answers_what_mongodb_answers(
    collection: AsyncCollection[dict[str, Any]],
) -> None:
    # "ada/1" is the third id: n is 0.
    assert await collection.find_one({"_id": "ada/1", "n": 1}) is None
    assert await collection.find_one({"_id": "ada/1", "n": 0}) == {"_id": "ada/1", "n": 0}
    inside = expected("ada/", "ada/~", strict=True)
    ranged = {"_id": {"$gt": "ada/", "$lt": "ada/~"}, "n": 0}
    evens = [i for n, i in enumerate(IDS) if i in inside and n % 2 == 0]
    assert await collection.count_documents(ranged) == len(evens) > 0
    result = await collection.update_many(ranged, {"$set": {"n": 1}})
    assert result.modified_count == len(evens)
    everything = {"_id": {"$gt": "ada/", "$lt": "ada/~"}, "n": 1}
    assert await collection.count_documents(everything) == len(inside)


@pytest.mark.parametrize(
    "ids",
    [["ada/1", "ada/\\", 'ada/"', "ada/é", "nobody"], ["ada/\x01", 7, "b"], [7.5], ["b", "b"]],
)
async def test_a_list_of_ids_answers_what_mongodb_answers(
    collection: AsyncCollection[dict[str, Any]], ids: list[Any]
) -> None:
    # Strings are seeks; a list with a number in it is answered the way it was before.
    found = await collection.find({"_id": {"$in": ids}}).to_list()
    assert sorted(map(str, (d["_id"] for d in found))) == sorted({str(i) for i in ids if i in IDS})
    assert await collection.count_documents({"_id": {"$in": ids}, "n": 0}) == len(
        {i for i in ids if i in IDS and IDS.index(i) % 2 == 0}
    )
    deleted = await collection.delete_many({"_id": {"$in": ids}})
    assert deleted.deleted_count == len({i for i in ids if i in IDS})
    assert await collection.count_documents({}) == len(IDS) - deleted.deleted_count


async def test_a_list_of_object_ids_finds_them(settings: RuntimeSettings) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongodb_url)
    try:
        collection = client[settings.database_name("pushdown")]["object_ids"]
        ids = [ObjectId() for _ in range(5)]
        await collection.insert_many([{"_id": i} for i in ids])
        found = await collection.find({"_id": {"$in": [ids[1], ids[3], ObjectId()]}}).to_list()
        assert sorted(d["_id"] for d in found) == [ids[1], ids[3]]
    finally:
        await client.close()


@pytest.mark.parametrize(
    "filter",
    [
        {"_id": "ada/1", "n": 0},
        {"_id": {"$gt": "ada/", "$lt": "ada/~"}},
        {"_id": {"$in": ["ada/1", "b"]}},
        {"_id": {"$in": [ObjectId(), ObjectId()]}, "n": 1},
    ],
)
async def test_an_id_condition_is_an_index_seek(
    collection: AsyncCollection[dict[str, Any]], filter: dict[str, Any]
) -> None:
    plan = await collection.database.command(
        {"explain": {"find": collection.name, "filter": filter}}
    )
    assert plan["filterPushdown"] is True
    assert "USING INDEX" in " ".join(plan["queryPlanner"]["Plan"])


async def test_a_list_holding_a_number_is_scanned_as_before(
    collection: AsyncCollection[dict[str, Any]],
) -> None:
    plan = await collection.database.command(
        {"explain": {"find": collection.name, "filter": {"_id": {"$in": ["b", 7]}}}}
    )
    assert plan["filterPushdown"] is False
