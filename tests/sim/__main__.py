"""``python -m tests.sim [--seeds N] [--first S] [--seed S] [--steps K] [--faulty-marks] [--no-drain] [--no-stops]``:
run the deterministic simulation over many seeds; the first failure prints its seed and step trace."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace

from tests.sim.messages import Policy
from tests.sim.simulator import SimConfig, SimulationFailure, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.sim", description=__doc__)
    parser.add_argument("--seeds", type=int, default=100, help="how many seeds to run")
    parser.add_argument("--first", type=int, default=0, help="first seed")
    parser.add_argument("--seed", type=int, help="run this one seed and print its trace")
    parser.add_argument("--steps", type=int, default=SimConfig.steps)
    parser.add_argument("--faulty-marks", action="store_true", help="production's greatest(...) across resets")
    parser.add_argument("--crash-at", type=int, action="append", default=[], help="also crash at this step")
    parser.add_argument("--no-stops", action="store_true", help="clients send no stop orders")
    parser.add_argument("--no-drain", action="store_true", help="do not drain in-flight reports before a reset")
    args = parser.parse_args(argv)
    config = replace(SimConfig(), steps=args.steps, stops=not args.no_stops, crash_at=frozenset(args.crash_at),
                     policy=Policy(marks_per_day=not args.faulty_marks, drain_before_reset=not args.no_drain))
    seeds = [args.seed] if args.seed is not None else list(range(args.first, args.first + args.seeds))
    started = time.perf_counter()
    totals = {"crashes": 0, "resets": 0, "orders": 0, "fills": 0, "duplicates": 0}
    for seed in seeds:
        try:
            result = run(seed, config)
        except SimulationFailure as failure:
            print(failure, file=sys.stderr)
            return 1
        for key in totals:
            totals[key] += getattr(result, key)
        if args.seed is not None:
            print("\n".join(result.trace))
    elapsed = time.perf_counter() - started
    print(f"{len(seeds)} seeds passed in {elapsed:.1f} s ({elapsed / len(seeds) * 1000:.0f} ms/seed): "
          + ", ".join(f"{k} {v}" for k, v in totals.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
