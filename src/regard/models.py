"""Every table of every domain, gathered for migrations and schema checks.

Importing the preference and commitment services and the triggers also registers their merge
hooks, so that every merge, wherever it runs, carries consent, survey answers and candidates
over to the surviving profile.
"""

from regard.commitment import models as commitment_models
from regard.commitment import service as commitment_service
from regard.customers import models as customers_models
from regard.decisions import models as decisions_models
from regard.delivery import feedback as delivery_feedback
from regard.delivery import models as delivery_models
from regard.measurement import models as measurement_models
from regard.preferences import models as preferences_models
from regard.preferences import service as preferences_service
from regard.privacy import models as privacy_models
from regard.segments import models as segments_models
from regard.store.base import Base
from regard.touchpoints import models as touchpoints_models
from regard.touchpoints import triggers as touchpoints_triggers

metadata = Base.metadata

__all__ = [
    "commitment_models",
    "commitment_service",
    "customers_models",
    "decisions_models",
    "delivery_feedback",
    "delivery_models",
    "measurement_models",
    "metadata",
    "preferences_models",
    "preferences_service",
    "privacy_models",
    "segments_models",
    "touchpoints_models",
    "touchpoints_triggers",
]
