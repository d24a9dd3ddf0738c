"""The web interface, ``/healthz`` and ``/metrics``: one ASGI app in the service's loop.

- :mod:`.server`: uvicorn inside the running asyncio loop, started and stopped with the
  service; :mod:`.standalone`: ``newswatch web``, the pages read-only over a database;
- :mod:`.app`: the Starlette app factory, its routes and static files;
- :mod:`.site`: what the pages may read and do: read-only database access in worker
  threads, the few writes through the service, the config file;
- :mod:`.security`: sessions, CSRF tokens, login rate limits, security headers;
  :mod:`.passwords`: password hashes;
- :mod:`.render`: templates and the filters that escape feed text; :mod:`.daycounts`:
  the per-day counts of the small charts, finished days read once;
- :mod:`.pages`: one module per page (``templates/`` and ``static/`` beside them).

Importing this package imports nothing heavy: Starlette and uvicorn load when the server
starts, so ``newswatch --help`` stays fast.
"""
