"""``python -m forgetfilter`` runs the CLI."""

from forgetfilter.cli import app

app(prog_name="forgetfilter")
