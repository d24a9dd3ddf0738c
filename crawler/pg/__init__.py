"""PostgreSQL: the second backend, for many workers sharing one database.

The store modules' queries are written once, in the SQL both engines understand;
:mod:`crawler.pg.dialect` rewrites the few SQLite spellings they use (``?`` parameters,
``INSERT OR IGNORE``, planner hints) for PostgreSQL, and :mod:`crawler.pg.connection`
gives the rest of the code the same :data:`crawler.db.Database` handle over a psycopg
connection pool. :mod:`crawler.pg.schema` holds the PostgreSQL declaration of every table
with the same version numbers as :mod:`crawler.schema`, plus the tables the workers share
(:mod:`crawler.pg.cluster`); :mod:`crawler.pg.migrate` copies an SQLite database over.

psycopg is an optional dependency (``pip install 'newswatch[postgresql]'``): nothing here
is imported unless ``[service] database`` names a PostgreSQL server.
"""
