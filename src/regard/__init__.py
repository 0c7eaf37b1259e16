"""Regard: customer relationship marketing that respects what each customer asked for."""

__version__ = "0.1.0"
