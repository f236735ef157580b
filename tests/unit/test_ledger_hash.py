import datetime as dt

from registry.domain import ledger

AT = dt.datetime(2026, 11, 22, 10, 0, 0, 123456, tzinfo=dt.UTC)


def fields(**changes):
    base = dict(
        seq=1,
        at=AT,
        actor="user:alice",
        actor_kind="user",
        event="model.created",
        model="fraud",
        version=None,
        data={"b": 1, "a": [1, 2]},
        request_id="r1",
        prev_hash="0" * 64,
    )
    base.update(changes)
    return base


def test_the_hash_is_deterministic_and_key_order_free():
    assert ledger.event_hash(**fields()) == ledger.event_hash(**fields(data={"a": [1, 2], "b": 1}))


def test_every_field_is_covered_by_the_hash():
    original = ledger.event_hash(**fields())
    for change in [
        dict(seq=2),
        dict(at=AT + dt.timedelta(microseconds=1)),
        dict(actor="user:bob"),
        dict(actor_kind="service"),
        dict(event="model.deleted"),
        dict(model="churn"),
        dict(version=1),
        dict(data={"b": 2, "a": [1, 2]}),
        dict(request_id=None),
        dict(prev_hash="1" * 64),
    ]:
        assert ledger.event_hash(**fields(**change)) != original, change


def test_times_are_hashed_in_one_utc_form():
    paris = AT.astimezone(dt.timezone(dt.timedelta(hours=1)))
    assert ledger.format_time(paris) == "2026-11-22T10:00:00.123456Z"
    assert ledger.event_hash(**fields(at=paris)) == ledger.event_hash(**fields())


def test_the_callers_request_id_is_hashed_only_when_there_is_one():
    """Events written before client_request_id existed keep their hashes; a set value is
    covered like any other field."""
    before = ledger.event_hash(**fields())
    assert ledger.event_hash(**fields(), client_request_id=None) == before
    assert ledger.event_hash(**fields(), client_request_id="trace-1") != before
    assert ledger.event_hash(**fields(), client_request_id="trace-1") != ledger.event_hash(
        **fields(), client_request_id="trace-2"
    )
