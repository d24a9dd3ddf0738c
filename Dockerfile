# newswatch in a container: docs/operations.md ("Docker") explains the volume and config.
#
#   docker build -t newswatch .
#   docker run -d --name newswatch -v newswatch-data:/data newswatch
#
# /data holds config.toml, the database and any mbox files; relative paths in the config
# are relative to /data.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 newswatch \
    && useradd --system --uid 10001 --gid newswatch --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin newswatch

WORKDIR /src
COPY pyproject.toml README.md ./
COPY crawler ./crawler
COPY alerts ./alerts
COPY scheduler ./scheduler
COPY newswatch ./newswatch
RUN pip install '.[postgresql]' \
    && rm -rf /src \
    && mkdir -p /data \
    && chown newswatch:newswatch /data

WORKDIR /data
VOLUME ["/data"]
USER newswatch
ENV NEWSWATCH_CONFIG=/data/config.toml
# The web interface, /healthz and /metrics, when [web] listen = "0.0.0.0:8787" (with a
# password: docs/web.md).
EXPOSE 8787

CMD ["newswatch", "run", "--config", "/data/config.toml"]
