"""The conversation being handled, as code sending a message finds it."""

import asyncio

from eventing.logs import correlation, current_correlation_id


async def test_the_innermost_conversation_is_the_current_one_and_tasks_inherit_it() -> None:
    assert current_correlation_id() is None
    with correlation("request-1"):
        with correlation("message-2"):
            assert current_correlation_id() == "message-2"
        assert current_correlation_id() == "request-1"
        # Work started for the request (asyncio.gather) is in its conversation too.
        seen = await asyncio.gather(asyncio.sleep(0, result=None), _current())
        assert seen[1] == "request-1"
    assert current_correlation_id() is None


async def _current() -> str | None:
    return current_correlation_id()
