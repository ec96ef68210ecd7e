# venice-bots: the wheel is built in one stage and installed, not editable, from the lock in a
# slim one. Both stages use the same pinned image; change the tag here (or --build-arg).
ARG PYTHON_IMAGE=python:3.11.17-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY core core
COPY adapters adapters
COPY bots bots
COPY migrations migrations
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    DATABASE_URL=sqlite:////data/venice-bots.db

# A numeric non-root user that owns only /data (the database, its heartbeat, console pictures).
RUN groupadd --gid 10001 bot \
    && useradd --uid 10001 --gid 10001 --home-dir /data --no-create-home --shell /usr/sbin/nologin bot \
    && mkdir /data \
    && chown 10001:10001 /data

# Dependencies before the code: this layer is rebuilt when the lock changes, not on every commit.
COPY requirements.lock /tmp/requirements.lock
RUN pip install --require-hashes -r /tmp/requirements.lock \
    && rm /tmp/requirements.lock

COPY --from=build /wheels /tmp/wheels
RUN pip install --no-deps /tmp/wheels/*.whl \
    && rm -rf /tmp/wheels

# The console chat saves pictures under ./venice-media: here that is on the volume.
WORKDIR /data
USER 10001:10001
VOLUME ["/data"]
# `venice-bots run` touches a heartbeat file beside the database every 30 s; `health` reads it.
HEALTHCHECK --interval=60s --timeout=10s --start-period=30s --retries=3 \
    CMD ["venice-bots", "health"]
CMD ["venice-bots", "run"]
