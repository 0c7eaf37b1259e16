"""The preferences API, for brands that embed preferences in their own app."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api", tags=["preferences"])
