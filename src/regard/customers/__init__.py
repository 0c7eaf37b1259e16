"""Customers: profiles, identities, identity resolution, events, importers, the tracking API."""
