"""Benchmarks of the chain layer, run against their own anvil (`python -m bench.<name>`)."""
