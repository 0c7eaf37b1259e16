"""Privacy: keys, API credentials, roles, audit and data-subject requests."""
