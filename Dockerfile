# venice-bots: slim Python, a non-root user, the database on the /data volume.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DATABASE_URL=sqlite:////data/venice-bots.db

RUN useradd --create-home --uid 10001 bot \
    && mkdir /data && chown bot:bot /data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY core core
COPY adapters adapters
COPY bots bots
COPY migrations migrations
# Editable install: the code finds migrations/ beside core/ at run time.
RUN pip install -e .

USER bot
VOLUME ["/data"]
# `venice-bots run` touches a heartbeat file beside the database every 30 s.
HEALTHCHECK --interval=60s --timeout=10s --start-period=30s --retries=3 \
    CMD ["venice-bots", "health"]
CMD ["venice-bots", "run"]
