"""The web application: API, tracking API and pages, on one FastAPI app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from swagger_ui_bundle import swagger_ui_path

from regard import __version__, runtime
from regard.config import get_settings
from regard.customers import repository as customers_repository
from regard.preferences import repository as preferences_repository
from regard.store.database import Store, unit_of_work
from regard.web import admin
from regard.web.errors import install_error_handlers

TEMPLATES = Path(__file__).parent / "web" / "templates"
# The API docs page is served from the Swagger UI files Regard ships, never from a CDN: a
# browser that can reach Regard can read its docs, with or without the internet.
DOCS_ASSETS = "/api/docs/assets"


def create_app(store: Store | None = None) -> FastAPI:
    """Build the app on ``store`` (by default the one the settings name)."""
    store = store or runtime.store()
    threads = get_settings().web_threads or (1 if store.dialect == "sqlite" else 8)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Fewer threads than anyio's 40: beyond a few, requests only contend for the GIL (and
        # the SQLite write lock) inside the process; they wait better in the event loop.
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="Regard",
        version=__version__,
        docs_url=None,
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    app.state.store = store
    templates = Jinja2Templates(directory=TEMPLATES)
    templates.env.globals["brand_name"] = store.brand.name
    # Pages of every domain render through the same templates (and the same error pages).
    app.state.templates = templates
    install_error_handlers(app, templates)
    admin.install(app, secure_cookies=get_settings().public_url.startswith("https://"))

    from regard.commitment.routes import router as commitment_router
    from regard.customers.routes import router as customers_router
    from regard.customers.tracking import router as tracking_router
    from regard.decisions.routes import router as decisions_router
    from regard.delivery.routes import router as delivery_router
    from regard.preferences.routes import router as preferences_router
    from regard.preferences.sms import router as sms_router
    from regard.segments.routes import router as segments_router
    from regard.touchpoints.routes import router as touchpoints_router
    from regard.voc.routes import router as voc_router
    from regard.web.center.pages import router as center_router
    from regard.web.center.survey import router as survey_router

    app.include_router(customers_router)
    app.include_router(tracking_router)
    app.include_router(preferences_router)
    app.include_router(sms_router)
    app.include_router(center_router)
    app.include_router(survey_router)
    app.include_router(commitment_router)
    app.include_router(segments_router)
    app.include_router(touchpoints_router)
    app.include_router(decisions_router)
    app.include_router(voc_router)
    app.include_router(delivery_router)
    from regard.measurement.routes import router as measurement_router

    app.include_router(measurement_router)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home(request: Request) -> HTMLResponse:
        with unit_of_work(store) as session:
            counts = {
                "customers": customers_repository.count_customers(session),
                "events": customers_repository.count_events(session),
                "ledger": preferences_repository.count_entries(session),
            }
        return templates.TemplateResponse(request, "home.html", {"counts": counts})

    app.mount(DOCS_ASSETS, StaticFiles(directory=swagger_ui_path), name="api-docs-assets")

    @app.get("/api/docs", include_in_schema=False)
    def api_docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/api/openapi.json",
            title="Regard API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
        )

    @app.get("/healthz", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
