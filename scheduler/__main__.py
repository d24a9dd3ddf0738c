"""``python -m scheduler`` runs the newswatch command line."""

from scheduler.cli import main

main()
