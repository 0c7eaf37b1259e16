"""The segments API: definitions, checks, evaluation, sizes, trends and members."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api", tags=["segments"])
