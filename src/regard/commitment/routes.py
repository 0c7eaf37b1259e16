"""The commitment API: survey answers in, commitment and its history out."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api", tags=["commitment"])
