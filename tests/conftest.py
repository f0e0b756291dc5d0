"""Fixtures shared by every test folder."""

# tests/pg.py: ``pg_cluster`` (a throwaway PostgreSQL cluster per session) and ``store``
# (the e2e and chaos stacks' store, parametrized [sqlite] and [postgresql])
pytest_plugins = ("tests.pg",)
