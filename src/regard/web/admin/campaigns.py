"""``/admin/campaigns``: the campaign planner. Choose a campaign touchpoint, its audience and
channels, see the dry run (reach by segment and channel, suppressions by reason, cost, expected
value, spray-and-pray warnings), then launch (marketers and admins; audited). Launched campaigns
show how far their messages have got."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response

from regard.console import campaigns as planner
from regard.console.deliveries import OUTBOX_STATES
from regard.web.admin.access import PREFIX, SignedIn, check_csrf, require
from regard.web.admin.pages import SECTIONS, FormDep, render
from regard.web.deps import SessionDep, StoreDep

router = APIRouter(prefix=PREFIX, include_in_schema=False, dependencies=[Depends(check_csrf)])

SECTIONS.append(("campaigns.view", "Campaign planner", f"{PREFIX}/campaigns"))

Reader = Annotated[SignedIn, Depends(require("campaigns.view"))]


@router.get("/campaigns")
def campaigns_page(request: Request, session: SessionDep, store: StoreDep, who: Reader) -> Response:
    """Every campaign touchpoint with its latest launch."""
    rows = [
        (tp, next(iter(planner.launch_progress(session, tp.name, limit=1)), None))
        for tp in planner.campaigns(store.brand)
    ]
    return render(request, "admin/campaigns.html", {"who": who, "rows": rows})


@router.get("/campaigns/{name}")
def campaign_page(
    request: Request,
    name: str,
    session: SessionDep,
    store: StoreDep,
    who: Reader,
    segment: Annotated[list[str] | None, Query()] = None,
    channel: Annotated[list[str] | None, Query()] = None,
    preview: bool = False,
) -> Response:
    """The planner for one campaign: audience and channels, the dry run when asked for (with
    ``previews.view``), the launch button, and every launch's progress."""
    touchpoint = planner.campaign_touchpoint(store.brand, name)
    chosen_segments = [s for s in segment or [] if s]
    chosen_channels = [c for c in channel or [] if c]
    found = None
    if preview and who.may("previews.view"):
        found = planner.preview(
            store,
            name,
            segments=chosen_segments,
            channels=chosen_channels,
            by=who.actor.label,
            now=datetime.now(UTC),
        )
    done = request.query_params.get("done") or ""
    return render(
        request,
        "admin/campaign.html",
        {
            "who": who,
            "tp": touchpoint,
            "choices": planner.audience_choices(store.brand, touchpoint),
            "chosen_segments": chosen_segments,
            "chosen_channels": chosen_channels,
            "preview": found,
            "launches": planner.launch_progress(session, name),
            "states": OUTBOX_STATES,
            "launched": done.removeprefix("launched-") if done.startswith("launched-") else None,
        },
    )


@router.post("/campaigns/{name}/launch")
def campaign_launch(
    name: str,
    session: SessionDep,
    store: StoreDep,
    who: Annotated[SignedIn, Depends(require("campaigns.launch"))],
    form: FormDep,
) -> Response:
    """Launch the campaign now for the chosen segments (its own audience when none) on the
    chosen channels (all of its own when none)."""
    segments = [s for s in form.getlist("segment") if isinstance(s, str) and s]
    channels = [c for c in form.getlist("channel") if isinstance(c, str) and c]
    done = planner.launch(
        session,
        name,
        brand=store.brand,
        segments=segments,
        channels=channels,
        actor=who.actor,
        now=datetime.now(UTC),
    )
    return RedirectResponse(
        f"{PREFIX}/campaigns/{name}?done=launched-{done.launch_id}", status_code=303
    )
