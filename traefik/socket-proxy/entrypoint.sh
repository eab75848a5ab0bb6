#!/usr/bin/env bash
# Entrypoint of the docker-socket-proxy image. Starts as root only to read which group owns the Docker socket;
# HAProxy then drops to user haproxy in that group (haproxy.cfg: user, gid), so the proxy never runs as root.
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
  exec haproxy -db -f /usr/local/etc/haproxy/haproxy.cfg "$@"
}

main "$@"
