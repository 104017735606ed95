# One image for every livevote service; the command picks the service:
#   python -m services.<gateway|voting|wallet|notifier|scheduler> [rebuild-projections]
# Built in stages, so uv, npm and the build tools stay out of the image that runs; the
# gateway serves the web app and admin panel built in the first.

FROM node:20-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/index.html web/tsconfig.json web/vite.config.ts ./
COPY web/src ./src
RUN npm run build

FROM python:3.11-slim AS build
ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
# The locked dependencies first: this layer is rebuilt only when the lock changes.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project
COPY README.md ./
COPY contracts ./contracts
COPY eventing ./eventing
COPY services ./services
COPY scripts ./scripts
# Installed as a package, not linked to /src, so the venv alone is the application.
RUN uv sync --frozen --no-dev --no-editable

FROM python:3.11-slim
RUN groupadd --system --gid 10001 livevote \
    && useradd --system --uid 10001 --gid livevote --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin livevote
COPY --from=build /app/.venv /app/.venv
COPY --from=web /web/dist /app/web
ENV PATH=/app/.venv/bin:$PATH \
    LIVEVOTE_WEB_DIR=/app/web \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
# Numeric, so that Kubernetes can check runAsNonRoot against the image.
USER 10001:10001
EXPOSE 8000
CMD ["python", "-m", "services.gateway"]
