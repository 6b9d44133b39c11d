#!/bin/sh
# Entrypoint for the web service only: apply database migrations, then hand over to
# the container command (gunicorn by default). The worker and beat services do not
# use this script; they wait for web to be healthy, so migrations have run by then.
set -eu

python manage.py migrate --noinput

exec "$@"
