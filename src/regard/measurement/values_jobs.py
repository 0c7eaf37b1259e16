"""The scheduled refresh of the values the engine learns from measurement: at most once a day,
whichever machine's scheduler gets there first."""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta

from regard.measurement import values_repository, values_service
from regard.measurement.values_service import ValuesRefresh
from regard.store.database import Store, unit_of_work

__all__ = ["REFRESH_EVERY", "refresh_when_due"]

# Customer values and learned touchpoint values move slowly: a day between refreshes.
REFRESH_EVERY = timedelta(days=1)


def refresh_when_due(store: Store, *, now: datetime) -> ValuesRefresh | None:
    """Refresh the values (``values_service.refresh_values``) unless a refresh started less
    than ``REFRESH_EVERY`` ago; None when it was not due. The turn is taken in a transaction of
    its own, so two schedulers never both refresh; a refresh that fails gives it back."""
    holder = f"{socket.gethostname()}:{os.getpid()}"
    with unit_of_work(store) as session:
        taken = values_repository.take_turn(session, holder=holder, now=now, every=REFRESH_EVERY)
    if not taken:
        return None
    try:
        with unit_of_work(store) as session:
            return values_service.refresh_values(session, brand=store.brand, as_of=now)
    except BaseException:
        with unit_of_work(store) as session:
            values_repository.release_turn(session, holder=holder)
        raise
