"""Campaigns' pure rules: arm assignment (assignment.py) and the measurement of uplift (stats.py)."""
