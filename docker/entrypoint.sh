#!/bin/sh
# Runs the service this image was built for (AEGIS_SERVICE, baked in from the SERVICE build arg) as
# TypeScript through tsx, in this process: tini (PID 1) forwards SIGTERM straight to node, so the
# service's own shutdown manager drains jobs before exit. Arguments are passed on to the service.
set -eu
service="${AEGIS_SERVICE:?AEGIS_SERVICE is unset: build the image with --build-arg SERVICE=<folder under services/>}"
exec node --import tsx "/app/services/${service}/src/main.ts" "$@"
