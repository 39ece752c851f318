"""Path properties proved over all paths: examples, messages, guards fixed, versions, and
agreement with brute-force enumeration of bounded paths on random definitions."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from journeyfsm import JourneyBuilder, JourneyDefinition, JourneyMachine, templates
from journeyfsm.testing import (
    FINAL,
    INITIAL,
    WITH_TIMEOUT,
    Counterexample,
    Property,
    assert_every_path,
    assert_keeps_properties,
    assert_no_path,
    assert_no_traps,
    assert_only_from,
    assert_properties,
    check_properties,
    definitions,
    every_path,
    generated_payloads,
    no_path,
    no_traps,
    only_from,
    reachable,
)
from journeyfsm.testing._graph import Graph
from journeyfsm.testing._paths import Explorer


def shop(version: int = 1) -> JourneyDefinition:
    return (
        JourneyBuilder("shop", version=version)
        .stage("browsing", initial=True)
        .stage("cart")
        .stage("checkout")
        .stage("purchased")
        .stage("refunded", final=True)
        .stage("loyal", final=True)
        .stage("abandoned")
        .transition("add_to_cart", ["browsing", "cart"], "cart")
        .transition("start_checkout", "cart", "checkout")
        .transition("pay", "checkout", "purchased")
        .transition("refund", "purchased", "refunded")
        .transition("join_club", "purchased", "loyal")
        .transition("abandon", ["cart", "checkout"], "abandoned")
        .transition("come_back", "abandoned", "cart")
        .timeout("cart", timedelta(hours=1), "abandon")
        .build()
    )


SHOP_RULES = [
    no_path("purchased", avoiding="checkout"),
    every_path(FINAL | WITH_TIMEOUT, from_="cart"),
    only_from("refunded", "purchased"),
    no_traps(),
    reachable(["loyal", "refunded"]),
]


def test_the_shop_has_its_rules() -> None:
    verdicts = assert_properties(shop(), *SHOP_RULES)
    assert [v.holds for v in verdicts] == [True] * 5
    assert str(verdicts[0]) == (
        "holds: no path from INITIAL reaches 'purchased' avoiding 'checkout' ['shop' version 1]"
    )


def test_a_shortcut_is_found_with_a_shortest_counterexample() -> None:
    d = shop().builder().transition("one_click", "cart", "purchased").build()
    with pytest.raises(AssertionError) as err:
        assert_no_path(d, to="purchased", avoiding="checkout")
    assert str(err.value) == (
        "1 of 1 path properties do not hold:\n\n"
        "FAILS: no path from INITIAL reaches 'purchased' avoiding 'checkout' ['shop' version 1]\n"
        "  shortest counterexample (2 moves):\n"
        "    'browsing' --add_to_cart--> 'cart' --one_click--> 'purchased'"
    )


def test_a_cycle_that_never_finishes_is_a_counterexample_to_every_path() -> None:
    # without the cart's timeout, adding to the cart again and again goes on forever
    d = shop().builder().remove_timeouts(stage="cart").build()
    (verdict,) = check_properties(d, [every_path(FINAL | WITH_TIMEOUT, from_="cart")])
    assert not verdict.holds
    cex = verdict.counterexample
    assert cex == Counterexample("cart", cex.moves, loop_from=0)
    assert cex.stages == ("cart", "cart")
    assert str(cex) == "'cart' --add_to_cart--> 'cart' ... (round the cycle from 'cart' forever)"
    # from browsing the same cycle comes after a prefix
    (verdict,) = check_properties(d, [every_path(FINAL)])
    assert verdict.counterexample is not None
    assert verdict.counterexample.stages == ("browsing", "cart", "cart")
    assert verdict.counterexample.loop_from == 1


def test_every_path_stops_at_a_dead_end_that_is_not_a_target() -> None:
    (verdict,) = check_properties(shop(), [every_path("loyal", from_="purchased")])
    assert verdict.counterexample == Counterexample(
        "purchased", verdict.counterexample.moves if verdict.counterexample else ()
    )
    assert verdict.counterexample.triggers == ("refund",)
    # a start inside the targets holds at once
    assert assert_every_path(shop(), from_="loyal", reaches="loyal").holds


def test_entered_only_from_names_the_move_in_from_elsewhere() -> None:
    d = shop().builder().transition("refund", "checkout", "refunded").build()
    with pytest.raises(AssertionError, match="'refunded' is entered only from 'purchased'") as e:
        assert_only_from(d, "refunded", "purchased")
    assert "'browsing' --add_to_cart--> 'cart' --start_checkout--> 'checkout' --refund--> " in str(
        e.value
    )


def test_a_trap_is_reported_with_the_path_into_it() -> None:
    d = (
        JourneyBuilder("loop")
        .stage("new", initial=True)
        .stage("ping")
        .stage("pong")
        .stage("done", final=True)
        .transition("finish", "new", "done")
        .transition("start", "new", "ping")
        .transition("hit", "ping", "pong")
        .transition("hit", "pong", "ping")
        .build()
    )
    with pytest.raises(AssertionError) as err:
        assert_no_traps(d)
    assert "no final stage is reachable from 'ping'" in str(err.value)
    assert "'new' --start--> 'ping'" in str(err.value)
    (verdict,) = check_properties(d, [reachable("pong")])
    assert verdict.holds


def test_unreachable_stage_is_named() -> None:
    d = shop()
    (verdict,) = check_properties(d, [reachable("loyal")], guards={})
    assert verdict.holds
    assert "no path reaches" not in str(verdict)


def test_fixed_guards_remove_moves_and_shadow_later_candidates(
    checkout_definition: JourneyDefinition,
) -> None:
    # free guards: both candidates of checkout from cart are possible
    assert not check_properties(checkout_definition, [no_path("checkout")])[0].holds
    # a VIP with items always takes the first candidate, so the second is never tried
    vip = {"is_vip": True, "cart_not_empty": True}
    assert assert_no_path(checkout_definition, to="checkout", guards=vip).holds
    # an empty cart: neither candidate, so nothing is ever paid
    assert assert_no_path(checkout_definition, to="paid", guards={"cart_not_empty": False}).holds
    # a non-VIP: express is never reached, checkout still is
    verdicts = check_properties(
        checkout_definition, [no_path("express"), no_path("checkout")], guards={"is_vip": False}
    )
    assert [v.holds for v in verdicts] == [True, False]


def test_a_machine_is_a_target_too(checkout_definition: JourneyDefinition) -> None:
    assert assert_no_traps(JourneyMachine(checkout_definition)).holds


@pytest.mark.parametrize("name", sorted(templates.TEMPLATES))
def test_no_template_has_a_trap(name: str) -> None:
    assert_no_traps(templates.TEMPLATES[name]())


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: no_path("purchsed").check(shop()), KeyError, "did you mean 'purchased'"),
        (lambda: check_properties(shop(), [no_traps()], guards={"vip": True}), KeyError, "vip"),
        (lambda: no_path(3), TypeError, "stage name"),  # type: ignore[arg-type]
        (lambda: no_path([3]), TypeError, "stage names are str"),  # type: ignore[list-item]
        (lambda: check_properties(shop(), ["no traps"]), TypeError, "no_traps()"),  # type: ignore[list-item]
        (lambda: check_properties("shop", [no_traps()]), TypeError, "JourneyDefinition"),
    ],
)
def test_bad_input_is_refused_with_the_fix(
    call: Callable[[], object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        call()


def test_a_guard_fixed_to_a_non_bool_is_refused(checkout_definition: JourneyDefinition) -> None:
    with pytest.raises(TypeError, match="give True or False"):
        check_properties(checkout_definition, [no_traps()], guards={"is_vip": 1})  # type: ignore[dict-item]


def test_stage_sets_join_with_names() -> None:
    d = shop()
    assert (FINAL | "cart").stages(d) == {"refunded", "loyal", "cart"}
    assert ("cart" | WITH_TIMEOUT).stages(d) == {"cart"}  # type: ignore[operator]
    assert INITIAL.stages(d) == {"browsing"}
    assert repr(FINAL | ["cart", "checkout"]) == "FINAL | 'cart' | 'checkout'"


# -- across versions ---------------------------------------------------------------------
def test_v2_keeps_every_property_v1_had() -> None:
    v2 = shop().builder().stage("lapsed").transition("lapse", "abandoned", "lapsed")
    v2 = v2.transition("come_back", "lapsed", "cart").build(version=2)
    kept = assert_keeps_properties(shop(), v2, SHOP_RULES)
    assert [v.version for v in kept] == [2] * 5


def test_a_lost_property_and_a_removed_stage_are_reported() -> None:
    v2 = (
        shop()
        .builder()
        .remove_stage("refunded")
        .transition("one_click", "cart", "purchased")
        .build(version=2)
    )
    with pytest.raises(AssertionError) as err:
        assert_keeps_properties(shop(), v2, SHOP_RULES)
    text = str(err.value)
    assert text.startswith("3 of 5 properties of 'shop' version 1 are lost in version 2:")
    assert "--one_click--> 'purchased'" in text
    assert "has no stage 'refunded'" in text


def test_a_property_v1_lacks_is_not_asked_of_v2() -> None:
    never = no_path("loyal")
    assert assert_keeps_properties(shop(), shop(2), [never, no_traps()])[0].property == no_traps()


# -- agreement with brute force ----------------------------------------------------------
Succ = Callable[[str], list[tuple[str, str]]]


def free_moves(d: JourneyDefinition) -> Succ:
    """The moves with every guard free, straight from the compiled edges (generated
    definitions never put a candidate after an unguarded one)."""
    out: dict[str, list[tuple[str, str]]] = {s: [] for s in d.stage_names}
    for e in d.edges():
        if e.dest is not None:
            out[e.source].append((e.trigger, e.dest))
    return out.__getitem__


def walks(succ: Succ, start: str, length: int) -> Iterator[tuple[str, ...]]:
    """Every walk of at most ``length`` moves from ``start``, as its stages."""
    todo = [(start,)]
    while todo:
        walk = todo.pop()
        yield walk
        if len(walk) <= length:
            todo.extend((*walk, dest) for _, dest in succ(walk[-1]))


def brute_no_path(d: JourneyDefinition, succ: Succ, to: set[str], avoid: set[str]) -> int | None:
    n = len(d.stage_names)
    lengths = [
        len(w) - 1
        for w in walks(succ, d.initial_stage, n)
        if len(w) > 1 and w[-1] in to and not avoid & set(w)
    ]
    return min(lengths, default=None)


def brute_every_path(d: JourneyDefinition, succ: Succ, targets: set[str], start: str) -> bool:
    """False when a walk avoids the targets and stops in a dead end or runs for n moves
    (n moves visit n + 1 stages: one repeats, and the cycle can go round forever)."""
    n = len(d.stage_names)
    for w in walks(succ, start, n):
        if targets & set(w):
            continue
        if not succ(w[-1]) or len(w) == n + 1:
            return False
    return True


def brute_only_from(d: JourneyDefinition, succ: Succ, stage: str, sources: set[str]) -> bool:
    n = len(d.stage_names)
    return not any(
        len(w) > 1 and w[-1] == stage and w[-2] not in sources
        for w in walks(succ, d.initial_stage, n)
    )


def brute_no_traps(d: JourneyDefinition, succ: Succ) -> bool:
    n = len(d.stage_names)
    reached = {w[-1] for w in walks(succ, d.initial_stage, n)}
    finals = set(d.final_stages)
    return all(any(w[-1] in finals for w in walks(succ, s, n)) for s in reached)


def check_counterexample(d: JourneyDefinition, succ: Succ, cex: Counterexample) -> None:
    for a, b, m in zip(cex.stages, cex.stages[1:], cex.moves, strict=False):
        assert m.source == a and m.dest == b
        assert (m.trigger, m.dest) in succ(a)


@st.composite
def definition_and_stages(draw: st.DrawFn, guards: bool) -> tuple[JourneyDefinition, list[str]]:
    d = draw(definitions(max_stages=5, max_triggers=3, guards=guards))
    picks = draw(st.lists(st.sampled_from(d.stage_names), min_size=5, max_size=5))
    return d, picks


def agree(
    d: JourneyDefinition, picks: list[str], succ: Succ, fixed: dict[str, bool] | None = None
) -> None:
    to, avoid, start, target, extra = picks
    verdicts = check_properties(
        d,
        [
            no_path(to, avoiding=[avoid]),
            every_path([target, extra], from_=start),
            only_from(to, [avoid, extra]),
            no_traps(),
            every_path(FINAL | WITH_TIMEOUT),
        ],
        guards=fixed,
    )
    shortest = brute_no_path(d, succ, {to}, {avoid})
    v = verdicts[0]
    assert v.holds == (shortest is None)
    if v.counterexample is not None:
        assert len(v.counterexample.moves) == shortest
        assert v.counterexample.stages[-1] == to and avoid not in v.counterexample.stages
        check_counterexample(d, succ, v.counterexample)
    v = verdicts[1]
    assert v.holds == brute_every_path(d, succ, {target, extra}, start)
    if v.counterexample is not None:
        cex = v.counterexample
        check_counterexample(d, succ, cex)
        assert not {target, extra} & set(cex.stages)
        if cex.loop_from is None:
            assert succ(cex.stages[-1]) == []
        else:
            assert cex.stages[-1] == cex.stages[cex.loop_from] and len(cex.moves) > cex.loop_from
    assert verdicts[2].holds == brute_only_from(d, succ, to, {avoid, extra})
    assert verdicts[3].holds == brute_no_traps(d, succ)
    timed = {*d.final_stages, *(t.stage for t in d.timeouts)}
    assert verdicts[4].holds == brute_every_path(d, succ, timed, d.initial_stage)


def real_moves(d: JourneyDefinition, fixed: dict[str, bool] | None = None) -> Succ:
    """The machine's own moves: ``fire``'s choice for every payload that sets the
    generated guards' flags (each combination, those agreeing with ``fixed``)."""
    payloads = [p for p in generated_payloads() if all(p[k] == v for k, v in (fixed or {}).items())]
    explorer = Explorer(d, lambda stage, trigger: payloads)
    return lambda s: sorted({(step.trigger, step.dest) for step in explorer.steps_from(s)})


@settings(max_examples=150, deadline=None)
@given(definition_and_stages(guards=False))
def test_without_guards_the_checker_agrees_with_the_machine_on_every_bounded_path(
    case: tuple[JourneyDefinition, list[str]],
) -> None:
    d, picks = case
    agree(d, picks, real_moves(d))


@settings(max_examples=200, deadline=None)
@given(
    definition_and_stages(guards=True),
    st.dictionaries(st.sampled_from(["g0", "g1"]), st.booleans()),
)
def test_with_guards_the_checker_agrees_with_the_machine_on_every_bounded_path(
    case: tuple[JourneyDefinition, list[str]], fixed: dict[str, bool]
) -> None:
    # the generated guards are independent flags of the payload, and every combination
    # of them is offered: exactly the free guards of the graph (fixed ones held)
    d, picks = case
    fixed = {k: v for k, v in fixed.items() if k in d.guards()}
    agree(d, picks, real_moves(d, fixed), fixed)


@settings(max_examples=100, deadline=None)
@given(definitions(max_stages=6, max_triggers=3))
def test_the_graph_has_a_move_exactly_where_the_machine_can_move(d: JourneyDefinition) -> None:
    graph = Graph(d)
    succ, edges = real_moves(d), free_moves(d)
    for stage in d.stage_names:
        moves = sorted({(m.trigger, m.dest) for m in graph.out[stage]})
        assert moves == succ(stage)
        assert set(moves) <= set(edges(stage))


def test_many_free_guards_fall_back_to_three_valued_logic_and_keep_moves() -> None:
    from journeyfsm import guard
    from journeyfsm.testing._graph import MAX_LEAVES

    flags = [guard(lambda ctx: True, name=f"f{i}") for i in range(MAX_LEAVES + 1)]
    both = flags[0]
    for f in flags[1:]:
        both = both & f
    d = (
        JourneyBuilder("many")
        .stage("a", initial=True)
        .stage("b", final=True)
        .stage("c", final=True)
        .transition("go", "a", "b", guards=[both])
        .transition("go", "a", "c", guards=[both])  # never chosen: the same guards as before
        .build()
    )
    assert {m.dest for m in Graph(d).out["a"]} == {"b", "c"}  # kept: over-approximated
    few = d.builder().replace_guards("go", [flags[0]], source="a").build()
    assert {m.dest for m in Graph(few).out["a"]} == {"b"}  # enumerated: exact


def test_property_is_a_value() -> None:
    assert no_traps() == no_traps()
    assert isinstance(no_path("cart"), Property)
    assert str(only_from("a", ["b", "c"])) == "'a' is entered only from 'b' | 'c'"
