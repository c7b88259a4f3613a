# syntax=docker/dockerfile:1
# Every Mailbridge image, one target each, built from the repository root with the locked
# environment (uv.lock) of that one workspace member and nothing for development:
#   docker build --target fetcher -t mailbridge/fetcher .
# Targets: config-api, fetcher, sender (both pools: MAILBRIDGE_SEND_POOL), oauth-broker, and
# launcher (the `mailbridge` command: `mailbridge setup` is the deployments' one-shot set-up job).
# The final images hold Python, the member's virtual environment and nothing to build with (uv
# and the sources stay in the build stage); they run as an unprivileged user. Mailbridge is
# GPL-3.0-or-later and carries aioimaplib (GPL-3.0): the licence is in every image.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# a uv that reads this uv.lock (revision 5, written by uv 0.13)
COPY --from=ghcr.io/astral-sh/uv:0.13 /uv /usr/local/bin/uv
WORKDIR /src
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never UV_FROZEN=1 \
    UV_PROJECT_ENVIRONMENT=/app/.venv
COPY pyproject.toml uv.lock ./
COPY libs ./libs
COPY services ./services
COPY launcher ./launcher

FROM build AS build-config-api
RUN uv sync --frozen --no-dev --no-editable --package mailbridge-config-api
FROM build AS build-fetcher
RUN uv sync --frozen --no-dev --no-editable --package mailbridge-fetcher
FROM build AS build-sender
RUN uv sync --frozen --no-dev --no-editable --package mailbridge-sender
FROM build AS build-oauth-broker
RUN uv sync --frozen --no-dev --no-editable --package mailbridge-oauth-broker
FROM build AS build-launcher
RUN uv sync --frozen --no-dev --no-editable --package mailbridge-launcher

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.source="mailbridge" \
      org.opencontainers.image.licenses="GPL-3.0-or-later"
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin mailbridge
COPY LICENSE /usr/share/doc/mailbridge/LICENSE
COPY deploy/healthcheck.py /app/healthcheck.py
# The data folder (MAILBRIDGE_VAR_DIR) is only scratch here: keys and the database come from
# the environment. /tmp is writable, also under a read-only root file system with an emptyDir.
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    MAILBRIDGE_VAR_DIR=/tmp/mailbridge MAILBRIDGE_LOG_FORMAT=json
WORKDIR /app
USER 10001:10001

FROM runtime AS config-api
COPY --from=build-config-api /app/.venv /app/.venv
ENV MAILBRIDGE_API_HOST=0.0.0.0 MAILBRIDGE_API_PORT=8080
EXPOSE 8080
# /readyz: the database and NATS reachable (a 503 names which is not); /metrics beside it.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "/app/healthcheck.py", "http", "http://127.0.0.1:8080/readyz"]
CMD ["python", "-m", "mailbridge.config_api"]

FROM runtime AS fetcher
COPY --from=build-fetcher /app/.venv /app/.venv
# The operations port: /healthz, /readyz (the database and NATS reachable), /metrics.
ENV MAILBRIDGE_OPS_HOST=0.0.0.0 MAILBRIDGE_OPS_PORT=9090
EXPOSE 9090
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "/app/healthcheck.py", "http", "http://127.0.0.1:9090/readyz"]
CMD ["python", "-m", "mailbridge.fetcher"]

FROM runtime AS sender
COPY --from=build-sender /app/.venv /app/.venv
# The operations port: /healthz, /readyz (the database and NATS reachable), /metrics.
ENV MAILBRIDGE_OPS_HOST=0.0.0.0 MAILBRIDGE_OPS_PORT=9090
EXPOSE 9090
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "/app/healthcheck.py", "http", "http://127.0.0.1:9090/readyz"]
CMD ["python", "-m", "mailbridge.sender"]

FROM runtime AS oauth-broker
COPY --from=build-oauth-broker /app/.venv /app/.venv
# The operations port: /healthz, /readyz (the database and NATS reachable), /metrics.
ENV MAILBRIDGE_OPS_HOST=0.0.0.0 MAILBRIDGE_OPS_PORT=9090
EXPOSE 9090
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "/app/healthcheck.py", "http", "http://127.0.0.1:9090/readyz"]
CMD ["python", "-m", "mailbridge.oauth_broker"]

# Last, so a plain `docker build .` gives the `mailbridge` command.
FROM runtime AS launcher
COPY --from=build-launcher /app/.venv /app/.venv
CMD ["mailbridge", "setup"]
