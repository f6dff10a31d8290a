import pytest

from billing.jobs import task_named
from webhooks.dispatch import COMMITTED, DELIVER_TASK, DRAIN_SCHEDULED, DRAIN_TASK, _broker_redis, drain


@pytest.fixture
def broker_lists():
    """The dispatch's keys in the test broker's Redis, empty at the start and the end of the test."""
    client = _broker_redis()
    assert client is not None, "the tests run with a Redis broker"
    client.delete(COMMITTED, DRAIN_SCHEDULED)
    yield client
    client.delete(COMMITTED, DRAIN_SCHEDULED)


@pytest.fixture
def sent(monkeypatch, broker_lists):
    """The delivery tasks that reach the workers, each as the tuple of its message ids. A drain task
    runs at once, here, as a worker would run it: the delivery tasks it sends are recorded."""
    calls: list[tuple] = []
    monkeypatch.setattr(task_named(DELIVER_TASK), "delay", lambda *args: calls.append(args))
    monkeypatch.setattr(task_named(DRAIN_TASK), "delay", lambda: drain())
    return calls
