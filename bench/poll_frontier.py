"""How cheap a poll schedule learnt from history can be, against the targets of
`bench/poll_schedule.py`, worked out exactly rather than simulated task by task.

For a schedule (the ages at which a task is polled) and run times ~ N(mu, sd), the expected GETs
are 1 + the sum over polls of P(run time > poll), the share of tasks seen within half a second
is the probability mass within half a second before each poll (after the one before it), and the
tasks seen past their bound max(1 s, 10% of the run time) are the mass early enough in each gap.
A schedule's jitter is taken at its mean (a tenth off at most: 5% off every interval).

1. The cheapest schedule when the distribution is known exactly: first poll at 1 s, then one per
   doubling of the age (a task failing early is seen within its age), a tenth of the age from an
   age A on, every half second from an age a on; A and a chosen for the fewest GETs with at most
   half a task in 2,400 seen past its bound and the given share seen within half a second.
2. Schedules learnt from a history of 20 run times (as in `bench/poll_schedule.py`), over many
   random histories: the mean GETs and how often a bench of 8 histories x 300 tasks meets each
   target (fewer mean GETs than a fixed 2 s poll; every history's lag median under 0.5 s, the
   300 tasks drawn binomially from its share; no task past its bound, a Poisson draw). First the
   schedule `core.pace` had before 2026-12-07 (the spread as the scaled median absolute
   deviation, the window from 0.6 spreads before the median to 1.8 after, widened by 1.5
   standard errors, jitter everywhere), then `core.pace` itself, then its family at other
   margins: the spread as the standard deviation of the runs within 4 MAD-spreads (a tighter
   estimate), no jitter from the approach to the window's end, the window opened where 55% would
   be seen within half a second if the median were `z` standard errors early, the approach `A`
   spreads before the median (`core.pace`: z 1.5, A 4); last, z 2.0 learning from 50 runs (as
   many as the journal keeps) instead of 20.
3. The family on the very histories `bench/poll_schedule.py` draws.

    python bench/poll_frontier.py [--histories 500]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
from collections.abc import Callable
from statistics import NormalDist

from piapi_cli.core.pace import Pace
from piapi_cli.core.waiting import PollPolicy

Interval = Callable[[float], float]


def ages(interval: Interval, horizon: float) -> list[float]:
    """The ages at which a task is polled, up to the first past ``horizon``."""
    polls, age = [], interval(0.0)
    while age < horizon:
        polls.append(age)
        age += interval(age)
    return polls + [age]


def expect(polls: list[float], mu: float, sd: float) -> tuple[float, float, float]:
    """Expected GETs, share seen within 0.5 s, share seen past max(1 s, 10%) of tasks ~ N(mu, sd)."""
    cdf = NormalDist(mu, sd).cdf
    gets = within = late = 0.0
    before = 0.0
    for poll in polls:
        gets += 1 - cdf(before)
        within += cdf(poll) - cdf(max(before, poll - 0.5))
        early = max(before, min(poll - 1, poll / 1.1))  # ending before this: seen too late
        late += cdf(early) - cdf(before)
        before = poll
    return gets, within, late


def known(mu: float, sd: float, approach: float, opens: float, step: float = 0.5) -> list[float]:
    """Doubling from 1 s to ``approach``, a tenth of the age to ``opens``, then every ``step``."""
    polls, age = [], 1.0
    while age < approach:
        polls.append(age)
        age = min(2 * age, age + 10)
    age = approach
    while age < opens:
        polls.append(age)
        age = min(1.1 * age, age + 10)
    age = opens
    while age < mu + 8 * sd:
        polls.append(age)
        age += step
    return polls + [age]


def lower_bound(mu: float, sd: float, share: float, step: float = 0.5) -> tuple[float, float, float, float]:
    """Fewest GETs with the distribution known: (GETs, late tasks in 2,400, A and a in spreads)."""
    best = (math.inf, 0.0, 0.0, 0.0)
    for i in range(80):
        approach = mu - (5 - i * 0.05) * sd
        low, high = approach, mu + 3 * sd  # the latest opening that still sees `share` in 0.5 s
        for _ in range(30):
            middle = (low + high) / 2
            low, high = (
                (middle, high) if expect(known(mu, sd, approach, middle, step), mu, sd)[1] >= share else (low, middle)
            )
        gets, _, late = expect(known(mu, sd, approach, low, step), mu, sd)
        if late * 2400 <= 0.5 and gets < best[0]:
            best = (gets, late * 2400, (approach - mu) / sd, (low - mu) / sd)
    return best


def spread_of(runs: list[float]) -> tuple[float, float]:
    """Median, and standard deviation of the runs within 4 MAD-spreads of it."""
    median = statistics.median(runs)
    mad = 1.4826 * statistics.median(abs(r - median) for r in runs)
    kept = [r for r in runs if abs(r - median) <= 4 * mad] if mad > 0 else runs
    return median, statistics.stdev(kept) if len(kept) > 1 else 0.0


def family(runs: list[float], z: float, spreads: float, share: float = 0.55) -> Interval:
    """The cheaper schedule, its window opened for ``share`` if the median is ``z`` errors early."""
    median, sd = spread_of(runs)
    core = max(0.25, 0.03 * median, sd)
    early = median - z * 1.25 * core / math.sqrt(len(runs))
    gap = min(10.0, max(1.0, 0.1 * early))
    caught = min(1.0, 0.5 / gap)  # share of the tasks ending before the window seen within 0.5 s
    after = min(0.999, max(0.001, (share - caught) / (1 - caught)))
    opens = early + core * NormalDist().inv_cdf(1 - after)
    closes = median + 2.0 * core + z * 1.25 * core / math.sqrt(len(runs))
    approach = median - spreads * core
    step = min(0.5, max(0.25, median / 20))

    def interval(age: float) -> float:
        if opens - 0.01 <= age < closes:
            return step
        if age < approach:
            return min(10.0, max(1.0, age) * 0.95, approach - age + 0.01)
        if age < opens:
            return min(10.0, max(1.0, 0.1 * age), opens - age)
        return min(10.0, max(1.0, 0.1 * age)) * 0.95

    return interval


def current(runs: list[float]) -> Interval:
    pace, policy = Pace.of(runs), PollPolicy()
    return lambda age: policy.interval(age, lambda: 0.5, pace)


def before(runs: list[float]) -> Interval:
    """The schedule of `core.pace` before 2026-12-07, jitter at its mean."""
    median = statistics.median(runs)
    core = max(0.25, 0.03 * median, 1.4826 * statistics.median(abs(r - median) for r in runs))
    margin = 1.5 * 1.25 / math.sqrt(len(runs))
    opens, closes = median - (0.6 + margin) * core, median + (1.8 + margin) * core
    approach = median - 4 * core

    def interval(age: float) -> float:
        if opens - 0.01 <= age < closes:  # (at most 80 polls in the window)
            return max(min(0.5, max(0.25, median / 20)), (closes - opens) / 80) * 0.95
        if age < approach:
            return min(min(10.0, max(1.0, age)) * 0.95, approach - age + 0.01)
        base = min(10.0, max(1.0, 0.1 * age)) * 0.95
        return min(base, opens - age) if age < opens else base

    return interval


def histories(
    schedule: Callable[[list[float]], Interval], length: float, spread: float, count: int, runs_kept: int = 20
) -> list[tuple[float, float, float]]:
    """Expectations of ``count`` random histories of ``runs_kept`` runs."""
    draws, sd = random.Random(7), spread * length
    rows = []
    for _ in range(count):
        runs = [max(0.05, draws.gauss(length, sd)) for _ in range(runs_kept)]
        rows.append(expect(ages(schedule(runs), length + 8 * sd), length, sd))
    return rows


def _bench_histories(length: float = 30.0, spread: float = 0.10) -> list[list[float]]:
    """The histories `bench/poll_schedule.py` draws (seeds 1 to 8)."""
    out = []
    for seed in range(1, 9):
        draws = random.Random(seed)
        out.append([max(0.05, draws.gauss(length, spread * length)) for _ in range(20)])
    return out


def on_the_bench() -> None:
    """The family on the very histories of `bench/poll_schedule.py`, at 10% spreads."""
    print("3. the family on the 8 histories of poll_schedule.py: mean GETs, least share within 0.5 s, at 30 / 120 s")
    for z in (1.5, 1.6, 1.7, 1.8, 1.9, 2.0):
        cells = []
        for length in (30.0, 120.0):
            rows = [
                expect(ages(family(runs, z, 4.0), 1.8 * length), length, 0.1 * length)
                for runs in _bench_histories(length)
            ]
            cells.append(f"{statistics.mean(g for g, _, _ in rows):5.2f} GETs, {min(w for _, w, _ in rows):.2f}")
        print(f"  z {z}, A 4.0   30 s: {cells[0]}   120 s: {cells[1]}")


def bench_odds(rows: list[tuple[float, float, float]], fixed: float, trials: int = 4000) -> tuple[float, ...]:
    """How often 8 histories x 300 tasks meet: the GETs, every lag median, the bound, all three."""
    draws = random.Random(11)
    met = [0, 0, 0, 0]
    for _ in range(trials):
        bench = [draws.choice(rows) for _ in range(8)]
        gets = statistics.mean(g for g, _, _ in bench) < fixed
        medians = all(sum(draws.random() < within for _ in range(300)) > 150 for _, within, _ in bench)
        bound = draws.random() < math.exp(-300 * sum(late for _, _, late in bench))
        for i, ok in enumerate((gets, medians, bound, gets and medians and bound)):
            met[i] += ok
    return tuple(m / trials for m in met)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--histories", type=int, default=500)
    args = parser.parse_args()
    print("1. the distribution known exactly: fewest GETs (late tasks in 2,400; A and a in spreads from the mean)")
    for length, spread in ((30.0, 0.10), (120.0, 0.10)):
        for share in (0.50, 0.55, 0.60):
            gets, late, approach, opens = lower_bound(length, spread * length, share)
            where = f"A {approach:+.2f}, a {opens:+.2f}"
            print(f"  {length:.0f} s, {spread:.0%}, {share:.0%} within 0.5 s: {gets:5.2f} GETs ({late:.2f}; {where})")
    for step in (0.7, 0.9):  # sparser dense polls see fewer of the tasks ending among them: opened earlier
        gets, late, approach, opens = lower_bound(30.0, 3.0, 0.55, step)
        print(f"  30 s, 10%, 55% within 0.5 s, every {step} s: {gets:5.2f} GETs (A {approach:+.2f}, a {opens:+.2f})")
    for name, schedule in (("before", before), ("core.pace", current)):
        bench = [expect(ages(schedule(runs), 60.0), 30.0, 3.0) for runs in _bench_histories()]
        mean, least = statistics.mean(g for g, _, _ in bench), min(w for _, w, _ in bench)
        print(
            f"  {name}, on the 8 histories of poll_schedule.py at 30 s, 10%: {mean:.2f} GETs, least share {least:.2f}"
        )
    print("2. learnt from 20 runs: mean GETs (sd over histories) | odds a bench of 8 meets: GETs, medians, bound, all")
    fixed = {30.0: 15.5, 120.0: 60.5}
    ways: list[tuple[str, Callable[[list[float]], Interval]]] = [("before", before), ("core.pace", current)]
    for spreads in (3.5, 4.0, 4.5):
        for z in (1.0, 1.5, 2.0, 2.5):
            ways.append((f"z {z}, A {spreads}", lambda runs, z=z, s=spreads: family(runs, z, s)))
    ways.append(("z 2.0, A 4, 50", lambda runs: family(runs, 2.0, 4.0)))  # from a history of 50 runs
    for name, schedule in ways:
        cells = []
        for length in (30.0, 120.0):
            rows = histories(schedule, length, 0.10, args.histories, 50 if name.endswith("50") else 20)
            odds = bench_odds(rows, fixed[length])
            mean, sd = statistics.mean(g for g, _, _ in rows), statistics.pstdev(g for g, _, _ in rows)
            cells.append(f"{mean:5.2f} ({sd:.2f}) | " + " ".join(f"{o:.2f}" for o in odds))
        print(f"  {name:15} 30 s: {cells[0]}   120 s: {cells[1]}", flush=True)
    on_the_bench()


if __name__ == "__main__":
    main()
