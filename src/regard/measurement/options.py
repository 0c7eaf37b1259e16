"""How the brand measures what its messages are worth: the ``[measurement]`` section of
``regard.toml``. Each part of measurement owns its own class here."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class MeasurementOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
