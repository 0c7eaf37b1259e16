"""The preference center's pages: reached by signed links, served without JavaScript."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
