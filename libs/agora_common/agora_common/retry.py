"""One retry policy for everything that waits for a dependency to come back (broker, database, search engine):
jittered exponential backoff (tenacity), capped, each wait logged with what failed.

    await until_done(relay.relay_once, what="outbox relay", first=0.5)

A task that is cancelled stops at once (CancelledError is not retried). Without `attempts` it retries for
as long as it takes: the callers are background loops whose work must not be lost, and whose liveness checks
tell when something stays broken. Database write conflicts are not retried here: the unit of work
(`agora_common.uow`) owns that, through pymongo's `with_transaction`.
"""

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_never,
    wait_random_exponential,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

FIRST_WAIT_S = 0.2
MAX_WAIT_S = 5.0


def policy(*, what: str, first: float = FIRST_WAIT_S, cap: float = MAX_WAIT_S, attempts: int | None = None,
           ) -> AsyncRetrying:
    """The retrying object, for `async for attempt in policy(...): with attempt: ...`."""

    def log_wait(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        log.warning(f"{what} failed; retrying", extra={
            "attempt": state.attempt_number, "retry_in_s": round(state.upcoming_sleep, 3),
            "error": f"{type(error).__name__}: {error}"[:300] if error else None,
        })

    return AsyncRetrying(
        # "full jitter": a random wait up to first * 2^n, so many clients that failed together spread out
        wait=wait_random_exponential(multiplier=first, max=cap),
        stop=stop_after_attempt(attempts) if attempts else stop_never,
        retry=retry_if_exception_type(Exception),
        before_sleep=log_wait,
        reraise=True,  # after the last attempt, the caller sees the real error, not tenacity's RetryError
    )


async def until_done(fn: Callable[[], Awaitable[T]], *, what: str, first: float = FIRST_WAIT_S,
                     cap: float = MAX_WAIT_S, attempts: int | None = None) -> T:
    """Call `fn` until it returns, waiting between failures as the policy says.

    The first call is made directly: the policy's objects (a retrying object, its call state and futures, tied in
    reference cycles that only the garbage collector frees) are built only once a call has failed. On a hot path
    (a stage's every send, a board write per batch) building them per call left ~35 objects of cyclic garbage a
    call, and the collections that freed them paused the points worker for 140-280 ms every few seconds."""
    try:
        return await fn()
    except Exception as error:  # noqa: BLE001 - the policy decides what happens next
        failed: list[BaseException] = [error]

    async def call() -> T:
        if failed:  # the first attempt is the call above: the policy logs it and waits as after any failure
            raise failed.pop()
        return await fn()

    async for attempt in policy(what=what, first=first, cap=cap, attempts=attempts):
        with attempt:
            return await call()
    raise AssertionError("unreachable: tenacity re-raises the last error")
