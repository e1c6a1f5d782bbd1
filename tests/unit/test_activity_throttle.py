"""Last-activity writes are throttled per person in each process, in bounded memory."""

from __future__ import annotations

import uuid

from server.matching.activity import Throttle


def test_a_person_is_due_once_per_interval():
    throttle = Throttle(interval=300, capacity=10)
    person = uuid.uuid4()
    assert throttle.due(person, 1000.0)
    assert not throttle.due(person, 1000.0)
    assert not throttle.due(person, 1299.9)
    assert throttle.due(person, 1300.0)
    assert not throttle.due(person, 1400.0)


def test_people_are_throttled_independently():
    throttle = Throttle(interval=300, capacity=10)
    first, second = uuid.uuid4(), uuid.uuid4()
    assert throttle.due(first, 0.0)
    assert throttle.due(second, 1.0)
    assert not throttle.due(first, 2.0) and not throttle.due(second, 2.0)


def test_memory_is_bounded_by_capacity_forgetting_the_longest_remembered():
    throttle = Throttle(interval=300, capacity=3)
    people = [uuid.uuid4() for _ in range(5)]
    for second, person in enumerate(people):
        assert throttle.due(person, float(second))
        assert len(throttle) <= 3
    # The two remembered longest were forgotten, so they may be written again early; the rest may not.
    assert throttle.due(people[0], 10.0)
    assert not throttle.due(people[4], 10.0)


def test_expired_entries_are_dropped_without_reaching_capacity():
    throttle = Throttle(interval=300, capacity=1000)
    for second in range(100):
        throttle.due(uuid.uuid4(), float(second))
    assert len(throttle) == 100
    throttle.due(uuid.uuid4(), 500.0)
    assert len(throttle) == 1
