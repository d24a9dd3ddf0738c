"""``python -m newswatch``: the same command line as the ``newswatch`` script."""
