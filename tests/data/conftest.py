"""Fixtures for the kerun.data tests (helpers live in datahelpers.py)."""

from datahelpers import table_csv  # noqa: F401  (fixture)
