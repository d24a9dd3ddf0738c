"""The rule language: query parsing, text normalisation, the compiled matcher, lint and try-out."""
