"""Declared migrations (journeyfsm/_versions.py): validation that reports every problem at
once, version order, chains; and, by hypothesis over random definitions and random
migrations, every migrated journey equals the one rebuilt by hand."""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import timedelta

import pytest
from conftest import START, quiet_logger
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journeyfsm import (
    DefinitionError,
    JourneyBuilder,
    JourneyDefinition,
    JourneyMachine,
    JourneyService,
    ManualClock,
    Migration,
    version_key,
)
from journeyfsm._versions import MIGRATE_TRIGGER, chain
from journeyfsm.stores import MemoryStore, SQLiteStore, Store
from journeyfsm.testing import definitions


def shop(version: int, *stages: str, final: tuple[str, ...] = ("paid",)) -> JourneyDefinition:
    b = JourneyBuilder("shop", version=version).stage("browse", initial=True)
    for s in stages:
        b = b.stage(s)
    for f in final:
        b = b.stage(f, final=True)
    previous = "browse"
    for i, s in enumerate((*stages, final[0])):
        b = b.transition(f"t{i}", previous, s)
        previous = s
    for i, f in enumerate(final[1:]):
        b = b.transition(f"x{i}", "browse", f)
    return b.build()


def test_a_migration_reports_every_problem_at_once() -> None:
    old = shop(1, "cart", "checkout", "gone")
    new = shop(2, "basket", "review", final=("paid", "done"))
    with pytest.raises(DefinitionError) as info:
        Migration(
            old,
            new,
            stages={"cart": "nowhere", "ghost": "basket", "checkout": "done"},
            removed={"browse": "basket"},
        )
    messages = [p.message for p in info.value.problems]
    assert any("sends stage 'cart' to 'nowhere'" in m for m in messages), messages
    assert any("maps 'ghost', which is not a stage of version 1" in m for m in messages)
    assert any("removed= names stage 'browse', but version 2 still has it" in m for m in messages)
    assert any("stage 'gone' of version 1 is not in version 2" in m for m in messages)
    assert len(messages) == 4, messages
    # an explicit mapping of a non-final stage to a final one is allowed
    ok = Migration(
        old, new, stages={"cart": "basket", "checkout": "done"}, removed={"gone": "review"}
    )
    assert ok.step("checkout", {}).stage == "done"


def test_an_implicit_non_final_to_final_mapping_must_be_explicit() -> None:
    old = shop(1, "cart", "done")
    new = shop(2, "cart", final=("paid", "done"))
    with pytest.raises(DefinitionError, match=r"stage 'done' is final in version 2 but not in 1"):
        Migration(old, new)
    assert Migration(old, new, stages={"done": "done"}).step("done", {}).stage == "done"


def test_a_migration_joins_two_versions_of_one_definition_in_order() -> None:
    with pytest.raises(DefinitionError, match="target version must be newer"):
        Migration(shop(2, "cart"), shop(1, "cart"))
    other = JourneyBuilder("other", version=2).stage("browse", initial=True)
    other = other.stage("cart").stage("paid", final=True).transition("t0", "browse", "cart")
    with pytest.raises(DefinitionError, match="ONE definition"):
        Migration(shop(1, "cart"), other.transition("t1", "cart", "paid").build())
    with pytest.raises(TypeError, match="two JourneyDefinitions"):
        Migration(JourneyMachine(shop(1, "cart")), shop(2, "cart"))  # type: ignore[arg-type]
    with pytest.raises(DefinitionError, match="cannot be ordered"):
        Migration(
            shop(1, "cart"),
            JourneyBuilder("shop", version="2")
            .stage("browse", initial=True)
            .stage("cart")
            .stage("paid", final=True)
            .transition("t0", "browse", "cart")
            .transition("t1", "cart", "paid")
            .build(),
        )


def test_versions_are_ordered_numerically_and_by_dotted_parts() -> None:
    assert sorted([10, 2, 1], key=version_key) == [1, 2, 10]
    assert sorted(["2.0", "1.10", "1.9", "1.9a"], key=version_key) == ["1.9", "1.9a", "1.10", "2.0"]
    with pytest.raises(TypeError):
        version_key(1.5)  # type: ignore[arg-type]


def test_the_data_function_must_return_json_shaped_data_and_its_errors_are_data_errors() -> None:
    from journeyfsm import DataError

    old, new = shop(1, "cart"), shop(2, "cart")
    with pytest.raises(DataError, match="returned list, not a dict"):
        Migration(old, new, data=lambda d: [d]).step("cart", {})  # type: ignore[arg-type,return-value]
    with pytest.raises(DataError, match="JSON"):
        Migration(old, new, data=lambda d: {"when": object()}).step("cart", {})
    with pytest.raises(DataError, match="raised ZeroDivisionError"):
        Migration(old, new, data=lambda d: {"x": 1 / 0}).step("cart", {})


def test_chains_compose_and_a_gap_is_named() -> None:
    a, b, c = shop(1, "cart"), shop(2, "basket"), shop(3, "bag")
    ab, bc = Migration(a, b, stages={"cart": "basket"}), Migration(b, c, stages={"basket": "bag"})
    assert chain([bc, ab], 1, 3) == (ab, bc)
    with pytest.raises(ValueError, match=r"from version 1 to 3 \(the chain stops at version 2\)"):
        chain([ab], 1, 3)
    clock = ManualClock(START)
    store = MemoryStore()
    JourneyService(JourneyMachine(a, clock=clock, logger=quiet_logger()), store).handle("k", "t0")
    service = JourneyService(
        JourneyMachine(c, clock=clock, logger=quiet_logger()),
        store,
        migrations=[ab, bc],
        on_old_version="migrate",
    )
    assert service.handle("k", "t1").dest == "paid"
    assert [(e.trigger, e.source, e.dest) for e in service.history("k")] == [
        ("t0", "browse", "cart"),
        (MIGRATE_TRIGGER, "cart", "basket"),
        (MIGRATE_TRIGGER, "basket", "bag"),
        ("t1", "bag", "paid"),
    ]


def test_service_arguments_are_checked_where_they_enter() -> None:
    clock = ManualClock(START)
    m1 = JourneyMachine(shop(1, "cart"), clock=clock)
    m2 = JourneyMachine(shop(2, "cart"), clock=clock)
    with pytest.raises(ValueError, match="not older than the service's machine"):
        JourneyService(m1, MemoryStore(), versions=[m2])
    with pytest.raises(ValueError, match="twice"):
        JourneyService(m2, MemoryStore(), versions=[m1, m1])
    with pytest.raises(TypeError, match="list of the machines"):
        JourneyService(m2, MemoryStore(), versions=m1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'pin' or 'migrate'"):
        JourneyService(m2, MemoryStore(), on_old_version="always")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no declared migration leads from version 1"):
        JourneyService(m2, MemoryStore(), versions=[m1], on_old_version="migrate")
    other = JourneyMachine(shop(1, "cart").builder().build(name="other"))
    with pytest.raises(ValueError, match="one definition"):
        JourneyService(m2, MemoryStore(), versions=[other])


@st.composite
def migrations(draw: st.DrawFn) -> tuple[JourneyDefinition, JourneyDefinition, Migration]:
    old = draw(definitions(guards=False, internal=False)).builder().build(version=1)
    new = draw(definitions(guards=False, internal=False)).builder().build(version=2)
    stages: dict[str, str] = {}
    removed: dict[str, str] = {}
    for stage in old.stages:
        target = draw(st.sampled_from(new.stage_names))
        if new.has_stage(stage.name):
            implicit_ok = not (new.stage(stage.name).final and not stage.final)
            if implicit_ok and draw(st.booleans()):
                continue  # the same name, implicitly
            stages[stage.name] = target
        elif draw(st.booleans()):
            removed[stage.name] = target
        else:
            stages[stage.name] = target
    add = draw(st.integers(0, 3))
    return (
        old,
        new,
        Migration(old, new, stages=stages, removed=removed, data=lambda d: {**d, "m": add}),
    )


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    migrations(),
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 5)), max_size=14),
    st.integers(1, 4),
)
def test_every_migrated_journey_equals_the_one_rebuilt_by_hand(
    kind: str,
    drawn: tuple[JourneyDefinition, JourneyDefinition, Migration],
    events: list[tuple[int, int]],
    batch_size: int,
) -> None:
    old, new, migration = drawn
    clock = ManualClock(START)
    store: Store
    if kind == "memory":
        store = MemoryStore()
    else:
        folder = tempfile.mkdtemp(prefix="jfsm-versions-")
        store = SQLiteStore(os.path.join(folder, "j.db"), create_schema=True)
    m1 = JourneyMachine(old, clock=clock, logger=quiet_logger())
    v1 = JourneyService(m1, store)
    triggers = sorted({t.trigger for t in old.transitions})
    for i, (k, t) in enumerate(events):
        clock.advance(timedelta(minutes=1))
        v1.handle(f"k{k}", triggers[t % len(triggers)], {"i": i}, policy="ignore")
    before = {j.key: j for j in v1.journeys()}
    clock.advance(timedelta(hours=1))
    m2 = JourneyMachine(new, clock=clock, logger=quiet_logger())
    v2 = JourneyService(m2, store, versions=[m1], migrations=[migration])
    report = v2.migrate(1, 2, batch_size=batch_size, dry_run=False)
    assert report.migrated == len(before) and report.ok
    after = {j.key: j for j in v2.journeys()}
    assert after.keys() == before.keys()
    for key, was in before.items():
        now = after[key]
        removed = was.stage in migration.removed
        stage = migration.stages.get(was.stage, migration.removed.get(was.stage, was.stage))
        assert now.stage == stage
        assert now.data == {**was.data, "m": migration.data({})["m"]}  # type: ignore[misc]
        assert now.version == was.version + 1
        assert list(now.history[:-1]) == list(was.history)
        entry = now.history[-1]
        assert (entry.seq, entry.trigger, entry.source, entry.dest, entry.at) == (
            was.version + 1,
            MIGRATE_TRIGGER,
            was.stage,
            stage,
            clock.now(),
        )
        assert dict(entry.meta or {}) == {"from_version": 1, "to_version": 2}
        # the clock: a removed stage is entered now, any other keeps its entry
        assert now.entered_at == (clock.now() if removed else was.entered_at)
        assert now.started_at == was.started_at
    # a re-run finds nothing to do
    assert v2.migrate(1, dry_run=False).migrated == 0
    if isinstance(store, SQLiteStore):
        store.close()
        shutil.rmtree(folder)
