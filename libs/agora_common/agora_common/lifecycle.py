"""Bounded shutdown: a service stops within its grace period even when a broker or database has gone away.

    await shut_down(
        ("consumer", consumer.stop),
        ("outbox relay", relay.stop),
        ("database client", client.close),
    )

Each step runs in order with its own time limit. A step that overruns is cancelled and left behind (not
awaited: a step that swallows its cancellation would otherwise hang the shutdown anyway), and the warning
names it, so the next steps still run and the logs say which dependency was stuck.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Step = tuple[str, Callable[[], Awaitable[object]]]

SLOW_STEP_SECONDS = 1.0  # worth a line in the logs: shutdowns are normally a few tens of milliseconds


async def shut_down(*steps: Step, timeout: float = 5.0, budget: float | None = None) -> None:
    """Run the steps in order, each within `timeout` and all together within `budget` (AGORA_SHUTDOWN_BUDGET_S,
    which the chart's grace period counts on): once the budget is spent, the steps left are skipped."""
    deadline = time.monotonic() + budget if budget is not None else None
    for name, step in steps:
        started = time.monotonic()
        limit = timeout if deadline is None else min(timeout, deadline - started)
        if limit <= 0:
            log.warning("shutdown budget spent; step skipped", extra={"step": name, "budget_s": budget})
            continue
        task = asyncio.ensure_future(step())
        done, _ = await asyncio.wait({task}, timeout=limit)
        elapsed = round(time.monotonic() - started, 3)
        if not done:
            task.cancel()
            task.add_done_callback(_forget)  # whatever it ends with was already reported as abandoned
            log.warning("shutdown step abandoned after its time limit", extra={"step": name, "timeout_s": limit})
        elif task.cancelled():
            log.warning("shutdown step was cancelled", extra={"step": name})
        elif (error := task.exception()) is not None:
            log.warning("shutdown step failed", extra={"step": name, "error": f"{type(error).__name__}: {error}"[:300]})
        elif elapsed >= SLOW_STEP_SECONDS:
            log.info("slow shutdown step", extra={"step": name, "seconds": elapsed})


def _forget(task: asyncio.Task) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: no "exception was never retrieved" noise when it is collected


async def cancel_and_wait(task: asyncio.Task | None) -> BaseException | None:
    """Cancel a background task and wait until it has finished; returns the error it had failed with, if any
    (its cancellation is not an error)."""
    if task is None:
        return None
    task.cancel()
    outcome: object = (await asyncio.gather(task, return_exceptions=True))[0]
    return outcome if isinstance(outcome, BaseException) and not isinstance(outcome, asyncio.CancelledError) else None
