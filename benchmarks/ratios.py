"""The ratios between figures; the issue's targets carry a bound."""

from __future__ import annotations

from .harness import ratio

__all__: list[str] = []


# ======================================================================================
# ratios and targets (the targets carry a bound)
# ======================================================================================
ratio(
    "fire_vs_transitions",
    "fire.journeyfsm",
    "fire.transitions",
    "journeyfsm fire / raw shared transitions trigger, same guard + hook",
    ("<=", 1.5),
)
ratio(
    "cycle_speedup_vs_add_model",
    "cycle.transitions_add_model",
    "cycle.journeyfsm",
    "how many times faster a journeyfsm request is than add_model/remove_model",
    (">=", 4),
)
ratio(
    "cycle_speedup_vs_statemachine",
    "cycle.statemachine",
    "cycle.journeyfsm",
    "how many times faster a journeyfsm request is than python-statemachine",
    (">=", 25),
)
ratio(
    "idle_journey_bytes",
    "memory.journeyfsm_idle",
    None,
    "bytes per idle journey (key string not counted)",
    ("<=", 250),
)
ratio(
    "growth_large_vs_small",
    "growth.journeyfsm_large",
    "growth.journeyfsm_small",
    "time per journey, large population / small population",
    ("<=", 1.2),
)

ratio(
    "fire_vs_statemachine",
    "fire.statemachine",
    "fire.journeyfsm",
    "how many times faster journeyfsm fires than python-statemachine",
)
ratio(
    "fire_vs_floor", "fire.journeyfsm", "fire.dict", "journeyfsm fire / the hand-written dict table"
)
ratio(
    "cycle_vs_shared_transitions",
    "cycle.journeyfsm",
    "cycle.transitions",
    "journeyfsm request / raw shared transitions request",
)
ratio(
    "cycle_history_cost",
    "cycle.journeyfsm_history",
    "cycle.journeyfsm",
    "request with 3-4 history entries in the snapshot / without",
)
ratio("cycle_vs_floor", "cycle.journeyfsm", "cycle.dict", "journeyfsm request / the dict floor")
ratio(
    "blocked_vs_transitions",
    "blocked.journeyfsm",
    "blocked.transitions",
    "a blocked fire (with guard reasons) / transitions returning False",
)
ratio("explain_vs_fire", "explain.journeyfsm", "fire.journeyfsm", "explain / one fire")
ratio(
    "structlog_filtered_us",
    "fire.journeyfsm",
    "fire.journeyfsm_no_logger",
    "us per event that filtered-out structlog adds to fire",
    op="-",
)
ratio(
    "structlog_null_sink_us",
    "fire.journeyfsm_null_sink",
    "fire.journeyfsm_no_logger",
    "us per event that structlog rendering JSON to /dev/null adds to fire",
    op="-",
)
ratio(
    "memory_add_model_vs_journeyfsm",
    "memory.transitions_add_model",
    "memory.journeyfsm_idle",
    "bytes per add_model'd model / per idle journey",
)
ratio(
    "memory_statemachine_vs_journeyfsm",
    "memory.statemachine",
    "memory.journeyfsm_idle",
    "bytes per python-statemachine instance / per idle journey",
)
ratio(
    "growth_gc_tuned_large_vs_small",
    "growth.journeyfsm_large_gc_tuned",
    "growth.journeyfsm_small_gc_tuned",
    "the same with the host's gc threshold raised (what limits the default: CPython's GC)",
)
ratio(
    "growth_floor_large_vs_small",
    "growth.dict_large",
    "growth.dict_small",
    "the dict floor's time per journey, large / small population",
)
