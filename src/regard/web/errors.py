"""One rendering of every error: JSON for API clients, a page for people."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from regard.errors import RegardError

log = logging.getLogger("regard.web")

_API_PREFIXES = ("/api/", "/v1/")


def _wants_json(request: Request) -> bool:
    if request.url.path.startswith(_API_PREFIXES):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def render_error(
    request: Request,
    templates: Jinja2Templates,
    *,
    status: int,
    code: str,
    message: str,
    details: dict[str, object] | None = None,
) -> Response:
    body: dict[str, object] = {"code": code, "message": message}
    if details:
        body["details"] = details
    if _wants_json(request):
        return JSONResponse({"error": body}, status_code=status)
    return templates.TemplateResponse(
        request,
        "error.html",
        {"status": status, "code": code, "message": message, "details": details or {}},
        status_code=status,
    )


def _describe_validation(exc: RequestValidationError) -> tuple[str, list[dict[str, str]]]:
    problems = [
        {
            "at": ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body",
            "problem": str(err.get("msg", "invalid")),
        }
        for err in exc.errors()
    ]
    summary = "; ".join(f"{p['at']}: {p['problem']}" for p in problems[:5])
    return summary or "invalid request", problems


def install_error_handlers(app: FastAPI, templates: Jinja2Templates) -> None:
    @app.exception_handler(RegardError)
    async def _regard_error(request: Request, exc: RegardError) -> Response:
        return render_error(
            request,
            templates,
            status=exc.status_code,
            code=exc.code,
            message=exc.message,
            details=exc.details,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        summary, problems = _describe_validation(exc)
        return render_error(
            request,
            templates,
            status=400,
            code="invalid_input",
            message=summary,
            details={"problems": problems},
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        response = render_error(
            request, templates, status=exc.status_code, code=code, message=str(exc.detail)
        )
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # The type only: messages may carry personal data.
        log.error("unexpected %s on %s %s", type(exc).__name__, request.method, request.url.path)
        return render_error(
            request,
            templates,
            status=500,
            code="internal_error",
            message="Something went wrong on our side; nothing was changed.",
        )
