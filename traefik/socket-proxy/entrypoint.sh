#!/usr/bin/env bash
# Entrypoint of the docker-socket-proxy image. Starts as root only to read which group owns the Docker socket;
# HAProxy then drops to user haproxy in that group (the policy's user and gid), so the proxy never runs as root.
# PROXY_POLICY names the calls let through: traefik (the default: read-only) or remediator (its actions only).
set -euo pipefail

die() {
  echo "docker-socket-proxy: $*" >&2
  exit 1
}

main() {
  export DOCKER_SOCKET=${DOCKER_SOCKET:-/var/run/docker.sock}
  [[ -S $DOCKER_SOCKET ]] || die "no Docker socket at $DOCKER_SOCKET: mount it (read-only is enough)"
  DOCKER_SOCKET_GID=$(stat -c %g "$DOCKER_SOCKET")
  export DOCKER_SOCKET_GID
  [[ $(stat -c %A "$DOCKER_SOCKET") == ????rw* ]] ||
    die "the group of $DOCKER_SOCKET ($DOCKER_SOCKET_GID) cannot read and write it"
  local policy=${PROXY_POLICY:-traefik}
  [[ $policy =~ ^(traefik|remediator)$ ]] || die "PROXY_POLICY=$policy: must be traefik or remediator"
  exec haproxy -db -f "/usr/local/etc/haproxy/$policy.cfg" "$@"
}

main "$@"
