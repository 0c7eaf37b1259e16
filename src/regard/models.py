"""Every table of every domain, gathered for migrations and schema checks."""

from regard.customers import models as customers_models
from regard.privacy import models as privacy_models
from regard.store.base import Base

metadata = Base.metadata

__all__ = ["customers_models", "metadata", "privacy_models"]
