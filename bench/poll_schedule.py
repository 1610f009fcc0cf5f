"""Poll schedules simulated on a fake clock: GETs per task and lag (from a task's end to the
poll that sees it) of piapi's wait with its kind's pace learnt from history, of the same wait
without history (the age-based schedule), and of a fixed 2-second poller.

The waits are `core.waiting.wait_for_tasks` itself, as `piapi create --wait` runs it (the
create's answer is known, the first poll waits one interval); only time is simulated, so the
figures are exact for the schedule and leave out the network (each GET answers at once).

Run times of each length are drawn around it with a relative spread (0: every task takes
exactly the same, as in the sandbox; 0.05 and 0.10: a normal spread of 5% and 10%); the
history is 20 earlier tasks drawn the same way, the journal's latest completed ones. Each of
``--seeds`` seeds draws its own history and tasks (a history of 20 is itself a draw: in these
seeds its median misses the true one by up to half a spread, and its spread misses by up to a
third); the polls of each way draw their jitter from a random stream of their own, so the three
ways see the very same tasks, and a change to one way's schedule leaves the others' figures be.

    python bench/poll_schedule.py [--tasks 300] [--seeds 8]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
from datetime import datetime, timezone

from piapi_cli.api.tasks import Task
from piapi_cli.core.pace import Pace
from piapi_cli.core.waiting import PollPolicy, wait_for_tasks

LENGTHS = (1.0, 5.0, 30.0, 120.0)
SPREADS = (0.0, 0.05, 0.10)
START = 1_800_000_000.0


def _stamp(at: float) -> str:
    return datetime.fromtimestamp(at, timezone.utc).isoformat().replace("+00:00", "Z")


def _task(status: str, created: float) -> Task:
    meta = {"created_at": _stamp(created)}
    data = {"task_id": "t", "model": "m", "task_type": "tt", "status": status, "meta": meta}
    return Task.from_api(data)


def simulate(duration: float, pace: Pace | None, rng: random.Random) -> tuple[int, float, float]:
    """GETs and lag of one wait on a task that runs ``duration`` seconds."""
    now = [START]
    gets = [0]

    def fetch(task_id: str) -> Task:
        gets[0] += 1
        return _task("completed" if now[0] - START >= duration else "processing", START)

    def sleep(seconds: float) -> None:
        now[0] += seconds

    wait_for_tasks(
        fetch, ["t"], known={"t": _task("pending", START)}, timeout=None, policy=PollPolicy(),
        clock=lambda: now[0], sleep=sleep, rng=rng.random, wall=lambda: now[0],
        pace=(lambda task: pace) if pace else None,
    )  # fmt: skip
    return gets[0], now[0] - START - duration, duration


def fixed(duration: float, every: float = 2.0) -> tuple[int, float, float]:
    polls = math.ceil(duration / every - 1e-9)
    return polls, polls * every - duration, duration


def draw(length: float, spread: float, rng: random.Random) -> float:
    return max(0.05, rng.gauss(length, spread * length)) if spread else length


def row(length: float, spread: float, tasks: int, seeds: range) -> dict[str, tuple[float, float, float, float, int]]:
    """Each way's GETs per task (mean), lag median (the highest of the seeds' medians), worst lag,
    worst lag as a share of its task's bound, and how many tasks were seen past their bound.

    Each seed draws its own history and tasks; the jitter of each way's polls has a random stream
    of its own, so every way (and every version of the schedule) is judged on the very same tasks."""
    found: dict[str, list[tuple[int, float, float]]] = {"paced": [], "no history": [], "fixed 2 s": []}
    medians: dict[str, list[float]] = {name: [] for name in found}
    for seed in seeds:
        draws, jitter, plain_jitter = random.Random(seed), random.Random(-seed), random.Random(1000 + seed)
        pace = Pace.of([draw(length, spread, draws) for _ in range(20)])
        runs: dict[str, list[tuple[int, float, float]]] = {name: [] for name in found}
        for _ in range(tasks):
            duration = draw(length, spread, draws)
            runs["paced"].append(simulate(duration, pace, jitter))
            runs["no history"].append(simulate(duration, None, plain_jitter))
            runs["fixed 2 s"].append(fixed(duration))
        for name, seen in runs.items():
            found[name] += seen
            medians[name].append(statistics.median(lag for _, lag, _ in seen))
    return {
        name: (
            statistics.mean(g for g, _, _ in runs),
            max(medians[name]),
            max(lag for _, lag, _ in runs),
            max(lag / bound(d) for _, lag, d in runs),
            sum(lag > bound(d) for _, lag, d in runs),
        )
        for name, runs in found.items()
    }


def bound(duration: float) -> float:
    """How late a task may be seen: max(1 s, 10% of its run time)."""
    return max(1.0, 0.1 * duration)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=8)
    args = parser.parse_args()
    seeds = range(1, args.seeds + 1)
    print(f"{args.seeds} seeds x {args.tasks} tasks per row; GETs per task (mean), lag median (the highest of")
    print("the seeds') / max in seconds, the worst lag as a share of its task's bound max(1 s, 10% of its")
    print("run time), and the tasks seen past their bound")
    print(f"{'length':>7} {'spread':>6} | {'paced':^32} | {'no history':^32} | {'fixed 2 s':^32}")
    for spread in SPREADS:
        for length in LENGTHS:
            result = row(length, spread, args.tasks, seeds)
            cells = " | ".join(
                f"{g:5.1f} GETs {med:4.2f} / {top:5.2f} {worst:4.2f} {late:3d}"
                for g, med, top, worst, late in result.values()
            )
            print(f"{length:6.0f}s {spread:6.0%} | {cells}")


if __name__ == "__main__":
    main()
