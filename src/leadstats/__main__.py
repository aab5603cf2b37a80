"""``python -m leadstats`` runs the CLI."""

from .cli import main

main()
