"""`python -m veilleur.cli`: the `veilleur` command without its console script."""

from veilleur.cli.main import app

app()
