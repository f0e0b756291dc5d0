"""The loyalty program's rules: pure functions and values, no store, no chain, no HTTP (they are
fed by the store in production and by plain data in tests)."""
