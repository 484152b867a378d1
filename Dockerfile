# Baton's container image: `docker build -t baton .` (add `--build-arg EXTRAS=otel` for OpenTelemetry traces).
# The same install as `make run` minus the test tools: pyproject.toml's dependencies into a virtualenv,
# here non-editable. tests/test_deploy.py replays the install step below in a fresh venv and serves from it.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
ARG EXTRAS=""
RUN python -m venv /opt/baton && /opt/baton/bin/pip install "/src${EXTRAS:+[$EXTRAS]}"

FROM python:3.11-slim
RUN groupadd --gid 10001 baton \
    && useradd --uid 10001 --gid baton --no-create-home --home-dir /app --shell /usr/sbin/nologin baton \
    && mkdir -p /app/data && chown baton:baton /app/data
COPY --from=build /opt/baton /opt/baton
WORKDIR /app
COPY workflows ./workflows
ENV PATH=/opt/baton/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    WORKFLOWS_DIR=/app/workflows \
    DATABASE_URL=sqlite:////app/data/baton.db \
    HOST=0.0.0.0 \
    PORT=3000
USER 10001:10001
EXPOSE 3000
VOLUME ["/app/data"]
# Healthy while GET /healthz answers 200 (store readable, sender and scheduler running); 503 raises here.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '3000') + '/healthz', timeout=4)"]
ENTRYPOINT ["python", "-m", "bot"]
CMD ["serve"]
