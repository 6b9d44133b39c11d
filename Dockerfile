# Switchboard control plane image: one image for the web, worker and beat services.
# Build:  docker build -t switchboard .
# Run:    see docker-compose.yml (the web service runs migrations on start-up).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STATIC_ROOT=/app/staticfiles

# Unprivileged user that owns /app and runs every process in the container.
RUN groupadd --system switchboard \
    && useradd --system --gid switchboard --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin switchboard

WORKDIR /app

# Dependencies and the Python packages first, so editing templates, static files or
# the example config does not reinstall everything. README.md is the package's
# `readme` in pyproject.toml, so the build needs it.
COPY pyproject.toml README.md ./
COPY controlplane ./controlplane
COPY routing ./routing
COPY agents ./agents
RUN pip install --no-cache-dir .

COPY manage.py ./
COPY templates ./templates
COPY static ./static
COPY config ./config
COPY docker/entrypoint-web.sh ./docker/entrypoint-web.sh

# The entrypoint must be executable even from a checkout that lost the mode bit.
RUN chmod 0755 docker/entrypoint-web.sh \
    && chown -R switchboard:switchboard /app

USER switchboard

# Static files are baked into the image. The secret key here is a throwaway used only
# so settings load with DEBUG off; the real one comes from the environment at run time.
RUN SECRET_KEY=build-only DEBUG=false python manage.py collectstatic --noinput

EXPOSE 8000

# Shell form via `sh -c` so WEB_CONCURRENCY / WEB_THREADS expand at run time; `exec`
# makes granian PID 1 so it receives SIGTERM from `docker stop`.
CMD ["sh", "-c", "exec granian --interface wsgi controlplane.wsgi:application --host 0.0.0.0 --port 8000 --workers ${WEB_CONCURRENCY:-2} --blocking-threads ${WEB_THREADS:-16} --no-ws --respawn-failed-workers --workers-kill-timeout ${WEB_KILL_TIMEOUT:-30} --access-log"]
