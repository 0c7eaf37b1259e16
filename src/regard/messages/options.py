"""How the brand writes its messages: the ``[messages]`` section of ``regard.toml``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

# A templates folder shipped inside a Python package rather than beside regard.toml:
# ``package:regard.demo/templates``.
PACKAGE_PREFIX = "package:"


class MessageOptions(BaseModel):
    """Where the templates are, who emails come from, and how long a text may grow."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # A folder relative to regard.toml, an absolute path, or ``package:<module>/<folder>``.
    templates: str = Field(default="templates", min_length=1)
    # The From of every email; its domain is the right-hand side of each Message-ID.
    sender: str = Field(default="Regard <messages@regard.invalid>", pattern=r"@[^@\s>]+>?$")
    # Texts longer than this many segments are flagged in previews and in the render's notes.
    sms_segment_limit: int = Field(default=3, ge=1, le=10)
    # Links in emails to other sites go through Regard's signed click redirect, which records
    # the click (engagement, measured lift) and forwards. No open pixels: opens are unreliable
    # (mail clients fetch images themselves) and clicks and replies say more.
    track_clicks: bool = True
