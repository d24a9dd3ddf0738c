"""``python -m newswatch`` runs the newswatch command line."""

from scheduler.cli import main

main(prog_name="newswatch")
