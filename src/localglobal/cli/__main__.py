"""``python -m localglobal.cli``: the command line, as the ``localglobal`` script runs it."""

from localglobal.cli import app

app()
