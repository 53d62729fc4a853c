# Flov7: one image for the API (`flov7 serve`) and the workers (`flov7 worker`).
#
#   docker build -t flov7 .
#   docker run --env-file deploy/flov7.env flov7 serve     # the API, port 8002
#   docker run --env-file deploy/flov7.env flov7 worker    # a worker, /metrics on 9464
#
# docker-compose.yml runs the whole deployment (Temporal with PostgreSQL, the Temporal
# Web UI, PostgreSQL for the store, the API and two workers). Configuration comes from
# the environment only (docs/operations.md lists every variable); nothing secret is
# baked into the image.

# --- Build the wheels (compilers and caches stay in this stage) ----------------------
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[tracing]"

# --- Runtime: the installed package and nothing else ----------------------------------
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    FLOV7_DATA_DIR=/var/lib/flov7 \
    FLOV7_API_HOST=0.0.0.0 \
    FLOV7_METRICS_HOST=0.0.0.0 \
    FLOV7_LOG_FORMAT=json
# A fixed, unprivileged user: the process needs no root and owns only its data dir.
RUN groupadd --system --gid 10001 flov7 \
    && useradd --system --uid 10001 --gid flov7 --home-dir /var/lib/flov7 --create-home flov7
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels "flov7[tracing]" \
    && rm -rf /wheels
USER flov7
WORKDIR /var/lib/flov7
# 8002: the API (`serve`); 9464: a worker's /metrics (`worker`).
EXPOSE 8002 9464
# Liveness of `serve` (GET /health); docker-compose.yml checks workers on /metrics.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('FLOV7_API_PORT', '8002') + '/health', timeout=4)"]
ENTRYPOINT ["flov7"]
CMD ["serve"]
