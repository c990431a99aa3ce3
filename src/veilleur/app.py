"""`create_app`: the FastAPI application of `veilleur serve`: the REST API and live stream
(`veilleur.api`) and the console (`veilleur.web`) mounted side by side. The two never import
each other; this module, above both, assembles them."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from veilleur import __version__, store
from veilleur.api import (
    rest,
    rest_authorisations,
    rest_delivery,
    rest_documents,
    rest_modes,
    rest_retention,
)
from veilleur.api.openapi import describe_answers
from veilleur.config.server import ServerSettings
from veilleur.http.auth import current_caller
from veilleur.http.limits import BodyLimit, SecurityHeaders
from veilleur.http.throttle import LoginThrottle
from veilleur.service.access import Caller, Forbidden, LoginRequired
from veilleur.service.bus import SignalBus
from veilleur.service.errors import ServiceError
from veilleur.service.platform import Platform
from veilleur.web import (
    pages,
    pages_authorisations,
    pages_delivery,
    pages_documents,
    pages_modes,
    pages_retention,
)

if TYPE_CHECKING:
    from veilleur.runtime import CameraHub

DESCRIPTION = """Veilleur raises attention signals for eight predetermined situations; it never
says anything about who a person is. Every route needs a console session (POST /api/session)
with a role allowed to call it; POST, PUT and DELETE also need the session's CSRF token in the
X-CSRF-Token header."""


def _wants_json(request: Request) -> bool:
    path = request.url.path
    return path.startswith("/api/") or path == "/metrics" or "HX-Request" in request.headers


def create_app(
    settings: ServerSettings,
    supervisor: CameraHub | None = None,
    *,
    bus: SignalBus | None = None,
    sessions: sessionmaker[Session] | None = None,
) -> FastAPI:
    """The web application. The database must be upgraded already (`store.upgrade`).

    `bus` and `sessions` are passed when the caller also built the supervisor's `on_signal`
    (a `SignalRecorder` on the same bus), so that signals it stores reach the live streams.
    """
    engine = None
    if sessions is None:
        engine = store.make_engine(settings.database_url)
        sessions = store.session_factory(engine)
    the_bus = bus or SignalBus()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        worker = getattr(app.state, "delivery", None)
        if worker is not None:
            worker.stop()  # what is not delivered stays in the outbox for the next start
        the_bus.close()  # ends the live streams so the server can stop
        if engine is not None:
            engine.dispose()

    app = FastAPI(
        title="Veilleur",
        version=__version__,
        description=DESCRIPTION,
        openapi_url="/api/openapi.json",
        docs_url=None,  # the interactive docs load scripts from a CDN; the server stays offline
        redoc_url=None,
        lifespan=lifespan,
    )
    original_openapi = app.openapi

    def documented_openapi() -> dict[str, Any]:
        # FastAPI's document, with every answer each route can give (api/openapi.py), once.
        if app.openapi_schema is None:
            describe_answers(original_openapi())
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = documented_openapi  # type: ignore[method-assign]
    app.state.settings = settings
    app.state.login_throttle = LoginThrottle()
    # Outermost last: the security headers go on every answer, 413 and 422 included.
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    app.state.sessions = sessions
    app.state.platform = Platform(sessions, settings.data_dir, the_bus, supervisor)

    app.state.templates = pages.templates

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired) -> Response:
        if request.url.path.startswith("/api/") or request.url.path == "/metrics":
            return JSONResponse({"detail": "log in first (POST /api/session)"}, status_code=401)
        target = "/login?next=" + request.url.path
        if "HX-Request" in request.headers:
            return Response(status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": exc.message}, status_code=403)
        return pages.render(request, "forbidden.html", None, {"message": exc.message}, 403)

    @app.exception_handler(ServiceError)
    async def _refused(request: Request, exc: ServiceError) -> Response:
        # What a use case refuses, answered as FastAPI answers an HTTPException.
        return JSONResponse({"detail": exc.message}, status_code=exc.status)

    for module in (
        rest, rest_authorisations, rest_modes, rest_retention, rest_documents, rest_delivery,
        pages, pages_authorisations, pages_modes, pages_retention, pages_documents,
        pages_delivery,
    ):  # fmt: skip
        app.include_router(module.router)
    app.mount("/static", StaticFiles(packages=[("veilleur.web", "static")]), name="static")

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, Any]:
        """Liveness for a load balancer: answers without a session, says nothing else."""

        def ping() -> None:
            with sessions() as s:
                s.execute(text("SELECT 1"))

        try:
            await run_in_threadpool(ping)
        except Exception as exc:
            raise HTTPException(503, detail="database unreachable") from exc
        return {"status": "ok"}

    @app.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
    async def metrics(
        request: Request, caller: Annotated[Caller | None, Depends(current_caller)]
    ) -> Response:
        """Prometheus metrics: per camera fps, lag, drops, detector time, queue depth,
        restarts. Needs a console session of an account without a service, or
        `Authorization: Bearer <metrics_token>`."""
        token = settings.metrics_token
        sent = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if caller is None and not (token and hmac.compare_digest(token.encode(), sent.encode())):
            raise LoginRequired
        if caller is not None and caller.service is not None:
            # Per-camera figures of every service: not for an account scoped to one (S9).
            raise Forbidden(
                "the metrics cover every camera: they need an account without a service"
            )
        from veilleur.runtime import metrics as runtime_metrics

        body, content_type = runtime_metrics.render()
        return Response(body, media_type=content_type)

    return app
