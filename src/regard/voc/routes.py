"""The Voice-of-the-Customer API: themes in customers' own words."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api", tags=["voice of the customer"])
