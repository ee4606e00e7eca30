"""FastAPI app factory: the same middleware, error format, health, readiness and metrics for every service."""

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from aiokafka.errors import KafkaConnectionError
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_fastapi_instrumentator import Instrumentator
from pymongo.errors import ConnectionFailure
from starlette.exceptions import HTTPException as StarletteHTTPException

from agora_common import db_timing, metrics
from agora_common.errors import AgoraError, InvalidInput, error_body
from agora_common.ids import new_id
from agora_common.logging import configure_logging, request_id_var
from agora_common.openapi import contract_openapi, operation_id_function
from agora_common.settings import ServiceSettings

log = logging.getLogger(__name__)

# A check raises when something is wrong; its message goes into the 503's details under the check's name.
ReadinessCheck = Callable[[FastAPI], Awaitable[None]]
LivenessCheck = ReadinessCheck

REQUEST_ID_HEADER = "X-Request-ID"
RETRY_AFTER_UNAVAILABLE_S = 2


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


# A dependency that is down is the client's cue to come back, not an internal error: one answer for all.
UNAVAILABLE: dict[type[Exception], str] = {ConnectionFailure: "database", KafkaConnectionError: "message broker"}


def install_error_handlers(app: FastAPI, unavailable: Mapping[type[Exception], str] | None = None) -> None:
    """`unavailable`: more exception types meaning "a dependency is down" (type -> what to call it)."""
    dependencies = {**UNAVAILABLE, **(unavailable or {})}

    @app.exception_handler(AgoraError)
    async def _agora(request: Request, exc: AgoraError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.code, exc.message, details=exc.details, request_id=_request_id(request)),
            status_code=exc.status_code,
            headers=exc.response_headers,
        )

    async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
        what = next(name for kind, name in dependencies.items() if isinstance(exc, kind))
        log.warning("dependency unavailable", extra={"dependency": what, "error": str(exc)[:300]})
        return JSONResponse(
            error_body("unavailable", f"the {what} is unavailable; try again shortly", request_id=_request_id(request)),
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_UNAVAILABLE_S)},
        )

    for kind in dependencies:
        app.add_exception_handler(kind, _unavailable)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"location": list(e.get("loc", ())), "message": e.get("msg"), "type": e.get("type")} for e in exc.errors()
        ]
        fields = ", ".join(".".join(str(p) for p in d["location"]) for d in details)
        return JSONResponse(
            error_body("invalid_input", f"request is invalid: {fields}", details=details, request_id=_request_id(request)),
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 403: "forbidden"}.get(
            exc.status_code, "http_error"
        )
        return JSONResponse(
            error_body(code, str(exc.detail), request_id=_request_id(request)),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse(
            error_body("internal_error", "internal error; it has been logged", request_id=_request_id(request)),
            status_code=500,
        )


def _query_names(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


async def reject_unknown_query(request: Request) -> None:
    """A query parameter the operation does not declare is a 422, not silently ignored: `?industry=` on a list that
    cannot filter by it must not look like a filtered answer."""
    if not request.query_params:
        return
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    allowed = getattr(route, "_agora_query_names", None)  # kept on the route: computed once per operation
    if allowed is None:
        allowed = frozenset(_query_names(dependant))
        setattr(route, "_agora_query_names", allowed)  # noqa: B010 - an attribute FastAPI does not declare
    if unknown := sorted(set(request.query_params) - allowed):
        raise InvalidInput(
            f"unknown query parameter{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}",
            code="unknown_query_parameter", details={"unknown": unknown, "allowed": sorted(allowed)})


def create_app(
    *,
    settings: ServiceSettings,
    title: str,
    description: str,
    routers: Sequence[APIRouter],
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[Any]] | None = None,
    readiness_checks: Sequence[ReadinessCheck] = (),
    liveness_checks: Sequence[LivenessCheck] = (),
    unavailable: Mapping[type[Exception], str] | None = None,
    version: str = "0.1.0",
) -> FastAPI:
    configure_logging(settings.service_name, settings.log_level)
    app = FastAPI(title=title, description=description, version=version, lifespan=lifespan,
                  generate_unique_id_function=operation_id_function(settings.service_name),
                  dependencies=[Depends(reject_unknown_query)])
    app.state.settings = settings
    install_error_handlers(app, unavailable)

    @app.middleware("http")
    async def request_context(request: Request, call_next):
        rid = request.headers.get(REQUEST_ID_HEADER) or new_id()
        request.state.request_id = rid
        token = request_id_var.set(rid)
        start = time.perf_counter()
        timer, timer_token = db_timing.start_request()
        try:
            response = await call_next(request)
            response.headers[REQUEST_ID_HEADER] = rid
            response.headers["Server-Timing"] = db_timing.server_timing(timer, time.perf_counter() - start)
            if request.url.path not in ("/metrics", "/healthz", "/readyz"):
                metrics.REQUEST_DB_SECONDS.observe(timer.db_seconds)
                # logged before the request id is reset, so the line carries it
                log.info(
                    "request",
                    extra={
                        "method": request.method,
                        "path": request.url.path,
                        "status": response.status_code,
                        "duration_ms": round((time.perf_counter() - start) * 1000, 2),
                    },
                )
        finally:
            request_id_var.reset(token)
            db_timing.end_request(timer_token)
        return response

    api_prefix = f"/api/v1/{settings.service_name}"  # the one place the prefix is applied
    for router in routers:
        app.include_router(router, prefix=api_prefix)
    app.openapi = contract_openapi(app, api_prefix=api_prefix)  # type: ignore[method-assign]  # FastAPI's way

    async def failed(checks: Sequence[ReadinessCheck]) -> dict[str, str]:
        failures = {}
        for check in checks:
            try:
                await check(app)
            except Exception as exc:  # noqa: BLE001 - any failure counts
                failures[getattr(check, "__name__", "check")] = str(exc)[:200]
        return failures

    @app.get("/healthz", tags=["ops"],
             summary="Liveness: the process answers and can recover on its own (503: restart it)")
    async def healthz() -> JSONResponse:
        if failures := await failed(liveness_checks):
            return JSONResponse(error_body("not_live", "needs a restart", details=failures), status_code=503)
        return JSONResponse({"status": "ok", "service": settings.service_name})

    @app.get("/readyz", tags=["ops"], summary="Readiness: the service's dependencies answer")
    async def readyz() -> JSONResponse:
        if failures := await failed(readiness_checks):
            return JSONResponse(
                error_body("not_ready", "dependencies unavailable", details=failures), status_code=503
            )
        return JSONResponse({"status": "ready", "service": settings.service_name})

    Instrumentator(
        should_group_status_codes=False,
        excluded_handlers=["/metrics", "/healthz", "/readyz"],
    ).instrument(app).expose(app, include_in_schema=False)
    return app
