"""Benchmarks of journeyfsm against its peers; ``python benchmarks/run.py`` (``make bench``).

- :mod:`benchmarks.workload` -- the one workload every contender is built from;
- :mod:`benchmarks.contenders` -- journeyfsm, raw transitions, python-statemachine and a
  hand-written dict table, each built from that workload;
- :mod:`benchmarks.harness` -- the figure registry, interleaved timing, memory and results;
- :mod:`benchmarks.figures` -- imports the figure modules in table order:
  ``figures_speed`` (fire, cycle, explain, blocked, log call), ``figures_memory``,
  ``figures_growth``, and ``ratios`` (the ratios and the issue's targets);
- :mod:`benchmarks.profile_fire` -- where ``JourneyMachine.fire`` spends its time (cProfile).
"""
