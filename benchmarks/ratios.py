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
    "journeyfsm fire / raw shared transitions trigger, same guard + hook + JSON log line, ids",
    ("<=", 0.75),
)
ratio(
    "fire_vs_transitions_flattering",
    "fire.journeyfsm_flattering",
    "fire.transitions_bare",
    "the same without ids, journeyfsm logging filtered, transitions not logging",
    ("<=", 1.5),
)
ratio(
    "data_200_orders_vs_empty",
    "fire_data.orders_200",
    "fire_data.empty",
    "fire with a hook that does not touch data: 200 orders in data / the cart only",
    ("<=", 1.5),
)
ratio(
    "logging_filtered_vs_no_logger",
    "fire.journeyfsm_flattering",
    "fire.journeyfsm_no_logger",
    "fire with logging filtered out / with a do-nothing logger",
    ("<=", 1.05),
)
ratio(
    "cycle_speedup_vs_add_model",
    "cycle.transitions_add_model",
    "cycle.journeyfsm",
    "how many times faster a journeyfsm request is than add_model/remove_model (same work)",
    (">=", 4),
)
ratio(
    "cycle_speedup_vs_statemachine",
    "cycle.statemachine",
    "cycle.journeyfsm",
    "how many times faster a journeyfsm request is than python-statemachine (same work)",
    (">=", 25),
)
ratio(
    "cycle_speedup_vs_add_model_flattering",
    "cycle.transitions_add_model_bare",
    "cycle.journeyfsm_flattering",
    "the same, plain: no ids, no entry, no log line on either side",
    (">=", 5),
)
ratio(
    "cycle_speedup_vs_statemachine_flattering",
    "cycle.statemachine_bare",
    "cycle.journeyfsm_flattering",
    "the same, flattering: no ids, no entry, no log line on either side",
    (">=", 25),
)
ratio(
    "idle_journey_bytes",
    "memory.journeyfsm_idle",
    None,
    "bytes per idle journey (key string not counted)",
    ("<=", 200),
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
    "cycle.journeyfsm_flattering",
    "flattering request with 3-4 history entries in the snapshot / without",
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
    "logging_filtered_us",
    "fire.journeyfsm_flattering",
    "fire.journeyfsm_no_logger",
    "us per event that logging filtered out adds to fire (vs a do-nothing logger)",
    op="-",
)
ratio(
    "production_us",
    "fire.journeyfsm",
    "fire.journeyfsm_flattering",
    "us per event that event ids + a JSON log line add to fire",
    op="-",
)
ratio(
    "cycle_production_vs_flattering",
    "cycle.journeyfsm",
    "cycle.journeyfsm_flattering",
    "request as production runs it / the flattering request",
)
ratio(
    "data_200_orders_us",
    "fire_data.orders_200",
    "fire_data.empty",
    "us per event that 200 orders in data add to fire",
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


# -- the durable service (issue 8) -------------------------------------------------------
ratio(
    "handle_vs_bare_transaction_sqlite",
    "service.handle_sqlite",
    "service.bare_sqlite",
    "JourneyService.handle on SQLite / a bare upsert + history insert transaction",
    ("<=", 3),
)
ratio(
    "handle_many_speedup_sqlite",
    "service.handle_sqlite",
    "service.handle_many_sqlite",
    "how many times more events per second handle_many commits than handle, SQLite",
    (">=", 5),
)
ratio(
    "handle_vs_bare_transaction_sqlite_flattering",
    "service.handle_sqlite_flattering",
    "service.bare_sqlite",
    "the same with logging filtered",
)
ratio(
    "handle_vs_bare_transaction_pg",
    "service.handle_pg",
    "service.bare_pg",
    "JourneyService.handle on PostgreSQL / a bare upsert + history insert transaction",
    ("<=", 3),
)
ratio(
    "handle_many_speedup_pg",
    "service.handle_pg",
    "service.handle_many_pg",
    "how many times more events per second handle_many commits than handle, PostgreSQL",
    (">=", 5),
)
ratio(
    "handle_many_vs_set_based_floor_pg",
    "service.handle_many_pg",
    "service.bare_many_pg",
    "handle_many per event / the set-based floor's (one unnest statement per table, per 100 "
    "events), PostgreSQL; the moonshot is <= 2",
)
ratio(
    "outbox_drain_2_vs_1_workers_pg",
    "outbox.drain_pg_1",
    "outbox.drain_pg_2",
    "outbox drain rate with 2 workers / with 1 (PostgreSQL)",
)


# -- asyncio (issue 17): the async service against the sync one, same workload and logging
ratio(
    "async_handle_vs_sync_sqlite",
    "async.handle_sqlite",
    "service.handle_sqlite",
    "await AsyncJourneyService.handle / JourneyService.handle, SQLite, one at a time",
    ("<=", 1.3),
)
ratio(
    "async_handle_many_vs_sync_sqlite",
    "async.handle_many_sqlite",
    "service.handle_many_sqlite",
    "async handle_many / sync handle_many per event, SQLite, batches of 100",
    ("<=", 1.2),
)
ratio(
    "async_handle_vs_sync_pg",
    "async.handle_pg",
    "service.handle_pg",
    "await AsyncJourneyService.handle / JourneyService.handle, PostgreSQL, one at a time",
    ("<=", 1.3),
)
ratio(
    "async_pg_50_tasks_speedup",
    "async.handle_pg",
    "async.handle_pg_50_tasks",
    "throughput of 50 concurrent tasks over a pool of 10 / one task at a time, PostgreSQL",
    (">=", 3),
)
ratio(
    "async_handle_many_vs_sync_pg",
    "async.handle_many_pg",
    "service.handle_many_pg",
    "async handle_many / sync handle_many per event, PostgreSQL, batches of 100",
    ("<=", 1.2),
)
