"""The web: the JSON API, the tracking API, and pages for people."""
