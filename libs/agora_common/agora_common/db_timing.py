"""How long each HTTP request waited on MongoDB, so the service's own time can be told apart from the database's.

A PyMongo CommandListener adds every command's duration to the timer of the request being served (a context
variable set by the app factory's middleware); the middleware then reports both parts in a standard
`Server-Timing: db;dur=<ms>, app;dur=<ms>` response header (visible in browsers' dev tools and to bench/api).

`db` is the sum of the command round trips as the driver saw them (including time the reply waited for the event
loop); concurrent commands in one request are summed, so `app` (wall time minus db) is clamped at zero.
"""

from contextvars import ContextVar, Token

from pymongo import monitoring


class RequestTimer:
    __slots__ = ("commands", "db_seconds")

    def __init__(self) -> None:
        self.db_seconds = 0.0
        self.commands = 0


_current: ContextVar[RequestTimer | None] = ContextVar("agora_db_timer", default=None)


class DbTimingListener(monitoring.CommandListener):
    def started(self, event: monitoring.CommandStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._add(event.duration_micros)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._add(event.duration_micros)

    @staticmethod
    def _add(micros: int) -> None:
        timer = _current.get()
        if timer is not None:
            timer.db_seconds += micros / 1_000_000
            timer.commands += 1


LISTENER = DbTimingListener()


def record_backend_time(seconds: float) -> None:
    """Count time spent on another backend (e.g. the search engine) as this request's "db" time."""
    timer = _current.get()
    if timer is not None:
        timer.db_seconds += seconds


def start_request() -> tuple[RequestTimer, Token]:
    timer = RequestTimer()
    return timer, _current.set(timer)


def end_request(token: Token) -> None:
    _current.reset(token)


def server_timing(timer: RequestTimer, total_seconds: float) -> str:
    db_ms = timer.db_seconds * 1000
    app_ms = max(total_seconds * 1000 - db_ms, 0.0)
    return f"db;dur={db_ms:.2f}, app;dur={app_ms:.2f}"
