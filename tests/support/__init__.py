"""Helpers shared by the test tiers (importable as `support`: pyproject puts tests/ on the path).

Fixtures live in conftest.py files; everything a test imports lives here."""
