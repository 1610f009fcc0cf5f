"""Poll schedules simulated on a fake clock: GETs per task and lag (from a task's end to the
poll that sees it) of piapi's wait with its kind's pace learnt from history, of the same wait
without history (the age-based schedule), and of a fixed 2-second poller.

The waits are `core.waiting.wait_for_tasks` itself, as `piapi create --wait` runs it (the
create's answer is known, the first poll waits one interval); only time is simulated, so the
figures are exact for the schedule and leave out the network (each GET answers at once).

Run times of each length are drawn around it with a relative spread (0: every task takes
exactly the same, as in the sandbox; 0.05 and 0.10: a normal spread of 5% and 10%); the
history is 20 earlier tasks drawn the same way, the journal's latest completed ones.

    python bench/poll_schedule.py [--tasks 300] [--seed 1]
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


def row(length: float, spread: float, tasks: int, seed: int) -> dict[str, tuple[float, float, float, float]]:
    rng = random.Random(seed)
    pace = Pace.of([draw(length, spread, rng) for _ in range(20)])
    found: dict[str, list[tuple[int, float, float]]] = {"paced": [], "no history": [], "fixed 2 s": []}
    for _ in range(tasks):
        duration = draw(length, spread, rng)
        found["paced"].append(simulate(duration, pace, rng))
        found["no history"].append(simulate(duration, None, rng))
        found["fixed 2 s"].append(fixed(duration))
    return {
        name: (
            statistics.mean(g for g, _, _ in runs),
            statistics.median(lag for _, lag, _ in runs),
            max(lag for _, lag, _ in runs),
            max(lag / max(1.0, 0.1 * d) for _, lag, d in runs),  # the bound: max(1 s, 10% of its run time)
        )
        for name, runs in found.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(f"{args.tasks} tasks per row; GETs per task (mean), lag median / max in seconds, and the worst")
    print("lag as a share of its task's bound, max(1 s, 10% of its run time)")
    print(f"{'length':>7} {'spread':>6} | {'paced':^29} | {'no history':^29} | {'fixed 2 s':^29}")
    for spread in SPREADS:
        for length in LENGTHS:
            result = row(length, spread, args.tasks, args.seed)
            cells = " | ".join(
                f"{g:5.1f} GETs {med:5.2f} / {top:5.2f} {worst:4.2f}" for g, med, top, worst in result.values()
            )
            print(f"{length:6.0f}s {spread:6.0%} | {cells}")


if __name__ == "__main__":
    main()
