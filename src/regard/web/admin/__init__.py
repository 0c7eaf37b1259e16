"""The staff console: sign-in, sessions, CSRF, security headers, the audit log, staff accounts."""

from __future__ import annotations

from fastapi import FastAPI

from regard.web.admin.access import LoginRequired, redirect_to_login
from regard.web.admin.headers import SecurityHeaders


def install(app: FastAPI, *, secure_cookies: bool) -> None:
    """Mount the console on ``app`` and put the security headers on every response.

    ``secure_cookies``: whether the public URL is https (cookies then carry ``Secure`` and
    responses ``Strict-Transport-Security``).
    """
    from regard.web.admin.campaigns import router as campaigns
    from regard.web.admin.customers import router as customers
    from regard.web.admin.deliveries import router as deliveries
    from regard.web.admin.overview import router as overview
    from regard.web.admin.pages import router
    from regard.web.admin.report import router as report
    from regard.web.admin.segments import router as segments
    from regard.web.admin.touchpoints import router as touchpoints

    app.state.secure_cookies = secure_cookies
    app.include_router(router)
    for pages in (overview, customers, segments, touchpoints, campaigns, deliveries, report):
        app.include_router(pages)
    app.add_exception_handler(LoginRequired, redirect_to_login)  # type: ignore[arg-type]
    app.add_middleware(SecurityHeaders, hsts=secure_cookies, exempt=(app.docs_url or "/api/docs",))
