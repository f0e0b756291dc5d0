"""The ``coalition`` command line: a local coalition as real processes, and its demo."""
