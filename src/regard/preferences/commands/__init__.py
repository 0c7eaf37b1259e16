"""``regard consent``, ``regard links`` and ``regard webhooks``."""
