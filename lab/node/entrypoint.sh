#!/usr/bin/env bash
# A Docker-in-Docker lab node: configure the engine (provision.sh engine), start cron and, on node1, the lab
# registry, then run dockerd in the foreground. Swarm init/join is a separate step (npm run lab:up runs
# `provision.sh swarm` once the engines answer), so a restarted node keeps its swarm state from its volume.
# NODE and SHARED come from the container's environment (set by lab:up).
set -euo pipefail

: "${NODE:?NODE (node1, node2 or node3) must be set}"
: "${SHARED:=/lab/shared}"

/opt/swarmlab/provision/provision.sh engine "$NODE" "$SHARED"

# A stopped container leaves these behind; a new dockerd would refuse to start.
rm -f /var/run/docker.pid /var/run/docker/containerd/containerd.pid

cron
if [[ $NODE == node1 ]]; then
  runuser -u docker-registry -- docker-registry serve /etc/docker/registry/config.yml \
    >>/var/log/docker-registry.log 2>&1 &
fi
exec dockerd
