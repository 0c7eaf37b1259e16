"""SMS keywords arriving from the provider's inbound webhook: STOP, START, HELP."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["sms"])
