#!/bin/sh
# Entrypoint for the web service only: apply database migrations, then hand over to
# the container command (granian by default). The worker and beat services do not
# use this script; they wait for web to be healthy, so migrations have run by then.
set -eu

python manage.py migrate --noinput

# The web workers keep their Prometheus counters in files here, and any worker's
# /metrics sums them (prometheus-client's multiprocess mode). A previous run's files
# would be summed too, so they go at every start.
export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-/tmp/switchboard-metrics}"
mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
rm -f "$PROMETHEUS_MULTIPROC_DIR"/*.db

exec "$@"
