"""``python -m coalition``: the same as the ``coalition`` command."""

from coalition.cli import app

app()
