#!/usr/bin/env bash
# Build Baton's Dockerfile with podman and run the image the way compose.yaml does, on a machine that can pull
# no base image: a Debian bookworm root made with debootstrap (Python 3.11, as in python:3.11-slim) is imported
# as localhost/python:3.11-slim, so the Dockerfile is built unchanged. Then, against the PostgreSQL at
# $PGHOST:$PGPORT: the image's `migrate` once, two `serve` replicas with AUTO_MIGRATE=false, each one's /healthz
# and the image's own HEALTHCHECK command, the user it runs as, and a SIGTERM stop that must exit 0.
#
# Needs root, podman, runc and debootstrap (apt-get install podman runc debootstrap) and a reachable Debian
# mirror and package index. Not part of `make test` (it takes minutes); README "Deploy" says what it showed.
#   deploy/podman/try-image.sh            # keeps the base in /var/tmp/baton-base between runs
set -euo pipefail

cd "$(dirname "$0")/../.."
BASE_DIR=${BASE_DIR:-/var/tmp/baton-base}
PGHOST=${PGHOST:-127.0.0.1}
PGPORT=${PGPORT:-5432}
DATABASE=baton_podman_try
PORTS=(3997 3998)
# This machine's containers may not raise resource limits: ask for ones under the host's.
RUN=(podman --runtime runc --cgroup-manager cgroupfs run --network=host --ulimit nofile=4096:4096
     --ulimit nproc=4096:4096)
ENV=(-e "DATABASE_URL=postgresql://postgres@$PGHOST:$PGPORT/$DATABASE" -e SLACK_BOT_TOKEN=xoxb-podman-try
     -e SLACK_SIGNING_SECRET=podman-try-secret -e SLACK_API_URL=http://127.0.0.1:9/api/ -e LOG_FORMAT=json)

step() { printf '\n== %s\n' "$*"; }
cleanup() { podman rm -f baton-try-1 baton-try-2 >/dev/null 2>&1 || true; }
trap cleanup EXIT

if ! podman image exists localhost/python:3.11-slim; then
  step "debootstrap a bookworm root with Python 3.11 as localhost/python:3.11-slim"
  if [ ! -x "$BASE_DIR/usr/bin/python3" ]; then
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$BASE_DIR" \
      http://deb.debian.org/debian >/dev/null
  fi
  ln -sf python3 "$BASE_DIR/usr/bin/python"
  # This machine reaches PyPI through a proxy with its own certificate authority: the base trusts what the host does.
  cp /etc/ssl/certs/ca-certificates.crt "$BASE_DIR/etc/ssl/certs/ca-certificates.crt"
  printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$BASE_DIR/etc/pip.conf"
  tar -C "$BASE_DIR" -c . | podman import - localhost/python:3.11-slim >/dev/null
fi

step "podman build (the Dockerfile as it is; docker format keeps its HEALTHCHECK)"
podman build --format docker --isolation=chroot --network=host -t localhost/baton:try . >/dev/null
podman image inspect localhost/baton:try --format 'user {{.Config.User}}, entrypoint {{.Config.Entrypoint}} {{.Config.Cmd}}, healthcheck {{.Config.Healthcheck.Test}}'

step "migrate once (the compose file's migrate service)"
psql -h "$PGHOST" -p "$PGPORT" -U postgres -q -c "DROP DATABASE IF EXISTS $DATABASE" -c "CREATE DATABASE $DATABASE"
"${RUN[@]}" --rm "${ENV[@]}" localhost/baton:try migrate

step "two replicas with AUTO_MIGRATE=false"
for i in 0 1; do
  "${RUN[@]}" -d --name "baton-try-$((i + 1))" --health-cmd none "${ENV[@]}" -e AUTO_MIGRATE=false \
    -e PORT="${PORTS[$i]}" localhost/baton:try >/dev/null
done
for i in 0 1; do
  name="baton-try-$((i + 1))"
  for _ in $(seq 1 60); do curl -sf "http://127.0.0.1:${PORTS[$i]}/healthz" >/dev/null && break; sleep 0.5; done
  echo "$name /healthz: $(curl -sf "http://127.0.0.1:${PORTS[$i]}/healthz")"
  echo "$name /readyz: $(curl -s "http://127.0.0.1:${PORTS[$i]}/readyz")"
  echo "$name runs as: $(podman exec "$name" id)"
  podman exec "$name" python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '3000') + '/healthz', timeout=4)"
  echo "$name HEALTHCHECK command: exit $?"
done

step "SIGTERM (podman stop), as a deploy does"
for name in baton-try-1 baton-try-2; do
  podman stop -t 40 "$name" >/dev/null
  echo "$name exited with $(podman inspect "$name" --format '{{.State.ExitCode}}')"
  [ "$(podman inspect "$name" --format '{{.State.ExitCode}}')" = 0 ]
done
psql -h "$PGHOST" -p "$PGPORT" -U postgres -q -c "DROP DATABASE $DATABASE"
step "all done"
