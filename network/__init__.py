"""The chain side of the coalition: purchase words, deployments, bindings, sender, indexer."""
