#!/usr/bin/env bash
# Node provisioning for both drivers (Vagrant VMs and Docker-in-Docker nodes). Idempotent: every step checks
# before it changes anything, so running it again is safe.
#
#   provision.sh install                      Docker engine, registry, cron, tools (Debian packages)
#   provision.sh engine  NODE SHARED          dockerd settings (mutual-TLS API on node1), trust in the lab
#                                             registry, the registry itself, the cron schedule and the git
#                                             repository for Jenkins on node1; restarts what changed
#   provision.sh swarm   NODE SHARED ADDR     node1: swarm init advertising ADDR; others: join node1
#   provision.sh labels                       node1: label every node (zone, etcd, db) by its name
#   provision.sh firewall                     VMs: nftables allowing only SSH, HTTP(S), swarm, registry, TLS API
#   provision.sh all     NODE SHARED ADDR     install, engine, swarm, firewall (a VM's whole provisioning)
#
# NODE is node1 (the manager), node2 or node3. SHARED is a folder shared with the host (Vagrant: /vagrant/.lab/nodes,
# docker driver: a bind mount of .lab/nodes): the lab CA and node1's certificate come from it (made by
# `npm run secrets` on the host), and node1 leaves the swarm's join tokens in it for the others.
set -euo pipefail

readonly MANAGER=node1
readonly REGISTRY_PORT=5000
readonly DOCKER_TLS_PORT=2376
readonly TLS_DIR=/etc/docker/tls
readonly REGISTRY_CONFIG=/etc/docker/registry/config.yml
# What the stack's Jenkins mounts read-only and builds (docker-compose.yml, service jenkins).
readonly GIT_REPOSITORY=/srv/git/swarmlab.git
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly SCRIPT_DIR

log() { printf '[provision %s] %s\n' "${NODE:-$(hostname)}" "$*"; }
die() {
  printf '[provision %s] error: %s\n' "${NODE:-$(hostname)}" "$*" >&2
  exit 1
}
has_systemd() { [[ -d /run/systemd/system ]]; }

# Writes stdin to FILE (mode MODE) when it differs; returns 0 when the file changed.
write_if_changed() {
  local file=$1 mode=$2 tmp
  tmp=$(mktemp)
  cat >"$tmp"
  if [[ -f $file ]] && cmp -s "$tmp" "$file"; then
    rm -f "$tmp"
    return 1
  fi
  install -D -m "$mode" "$tmp" "$file"
  rm -f "$tmp"
  log "wrote $file"
}

install_packages() {
  local wanted=(docker.io docker-registry cron ca-certificates curl git iproute2 iptables jq nftables procps)
  has_systemd && wanted+=(chrony)
  local missing=()
  local pkg
  for pkg in "${wanted[@]}"; do
    dpkg-query -W -f '${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  if ((${#missing[@]} == 0)); then
    log "packages already installed"
    return
  fi
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # The registry runs on node1 only, started by `engine`; the package's own service is not wanted elsewhere.
  if has_systemd; then systemctl disable --now docker-registry >/dev/null 2>&1 || true; fi
  rm -rf /var/lib/apt/lists/*
}

# dockerd's settings; node1 also serves the Docker API on :2376 with mutual TLS: its certificate is from the lab
# CA, and it accepts only client certificates of the Docker client CA (the operator's and Jenkins'), not any other
# certificate of the lab CA (pgBackRest's key is in the PostgreSQL members). no-new-privileges: no
# process in any container gains privileges through a setuid binary or file capabilities (the CIS Docker Benchmark's
# 5.25; Swarm services cannot set it per service on this engine, so the daemon sets it for all).
daemon_json() {
  local tls=''
  if [[ $NODE == "$MANAGER" ]]; then
    tls=$(
      cat <<JSON
  "hosts": ["unix:///var/run/docker.sock", "tcp://0.0.0.0:${DOCKER_TLS_PORT}"],
  "tls": true,
  "tlsverify": true,
  "tlscacert": "${TLS_DIR}/docker-client-ca.crt",
  "tlscert": "${TLS_DIR}/node.crt",
  "tlskey": "${TLS_DIR}/node.key",
JSON
    )
  fi
  cat <<JSON
{
${tls}
  "no-new-privileges": true,
  "log-driver": "json-file",
  "log-opts": { "max-size": "10m", "max-file": "3" }
}
JSON
}

configure_engine() {
  local changed=1
  [[ -f $SHARED/ca.crt ]] || die "$SHARED/ca.crt is missing: run npm run secrets on the host first"
  # Every node trusts the lab registry's certificate (signed by the lab CA).
  write_if_changed "/etc/docker/certs.d/${MANAGER}:${REGISTRY_PORT}/ca.crt" 644 <"$SHARED/ca.crt" || true
  if [[ $NODE == "$MANAGER" ]]; then
    local file
    for file in node1.crt node1.key docker-client-ca.crt registry.htpasswd; do
      [[ -f $SHARED/$file ]] || die "$SHARED/$file is missing: run npm run secrets on the host first"
    done
    write_if_changed "$TLS_DIR/docker-client-ca.crt" 644 <"$SHARED/docker-client-ca.crt" && changed=0
    write_if_changed "$TLS_DIR/node.crt" 644 <"$SHARED/node1.crt" && changed=0
    write_if_changed "$TLS_DIR/node.key" 600 <"$SHARED/node1.key" && changed=0
    configure_registry
  fi
  daemon_json | write_if_changed /etc/docker/daemon.json 644 && changed=0
  if has_systemd; then
    # The packaged unit passes -H fd://, which clashes with "hosts" in daemon.json.
    printf '[Service]\nExecStart=\nExecStart=/usr/sbin/dockerd --containerd=/run/containerd/containerd.sock\n' |
      write_if_changed /etc/systemd/system/docker.service.d/swarmlab.conf 644 && changed=0
    systemctl daemon-reload
    systemctl enable --now cron >/dev/null
    systemctl enable --now chrony >/dev/null 2>&1 || log "chrony not started (time comes from the host)"
    if ((changed == 0)) || ! systemctl is-active -q docker; then
      log "restarting docker"
      systemctl restart docker
    fi
    [[ $NODE == "$MANAGER" ]] && systemctl restart docker-registry
  fi
  return 0
}

configure_registry() {
  install -d -o docker-registry -g docker-registry -m 750 /var/lib/docker-registry
  {
    cat "$SCRIPT_DIR/registry.yml"
    cat <<YAML
  tls:
    certificate: ${TLS_DIR}/node.crt
    key: ${REGISTRY_CONFIG%/*}/node.key
YAML
    # Every request needs the user deploy pushes and the nodes pull with (npm run secrets: registry_password).
    cat <<YAML
auth:
  htpasswd:
    realm: swarmlab-registry
    path: ${REGISTRY_CONFIG%/*}/htpasswd
YAML
  } | write_if_changed "$REGISTRY_CONFIG" 644 || true
  # The registry runs as its own user: it gets its own copy of the key and of its users.
  install -m 640 -o root -g docker-registry "$SHARED/node1.key" "${REGISTRY_CONFIG%/*}/node.key"
  install -m 640 -o root -g docker-registry "$SHARED/registry.htpasswd" "${REGISTRY_CONFIG%/*}/htpasswd"
}

wait_for_docker() {
  local i
  for ((i = 0; i < 60; i++)); do
    docker info >/dev/null 2>&1 && return 0
    sleep 1
  done
  die "the Docker engine did not answer within 60 s (see journalctl -u docker, or the node's log)"
}

swarm_state() { docker info --format '{{.Swarm.LocalNodeState}}'; }

# node1 leaves the worker join token and its address in SHARED/swarm/ (mode 600), on every run: a purged
# SHARED folder gets them back.
publish_join_token() {
  install -d -m 700 "$SHARED/swarm"
  (
    umask 077
    docker swarm join-token -q worker >"$SHARED/swarm/worker-token"
    printf '%s\n' "$ADDR" >"$SHARED/swarm/manager-addr"
  )
}

join_swarm() {
  wait_for_docker
  if [[ $(swarm_state) == active ]]; then
    log "already in the swarm"
    [[ $NODE == "$MANAGER" ]] && publish_join_token
    return 0
  fi
  if [[ $NODE == "$MANAGER" ]]; then
    log "initialising the swarm, advertising $ADDR"
    docker swarm init --advertise-addr "$ADDR" --listen-addr "$ADDR:2377" >/dev/null
    publish_join_token
    return 0
  fi
  local token_file=$SHARED/swarm/worker-token i
  for ((i = 0; i < 120; i++)); do
    [[ -s $token_file && -s $SHARED/swarm/manager-addr ]] && break
    sleep 1
  done
  [[ -s $token_file ]] || die "no join token in $token_file after 120 s: is node1 provisioned?"
  log "joining the swarm at $(cat "$SHARED/swarm/manager-addr")"
  docker swarm join --advertise-addr "$ADDR" --listen-addr "$ADDR:2377" \
    --token "$(cat "$token_file")" "$(cat "$SHARED/swarm/manager-addr"):2377" >/dev/null
}

# node1 zone=1 etcd=1; node2 zone=2 etcd=2 db=1; node3 zone=3 etcd=3 db=2 (see docker-compose.yml).
# A node made again (a VM recreated, a purged container) joins as a new node with the old name; the old entry stays
# Down. Those are removed, and nodes are labelled by ID, so a name is never ambiguous.
label_nodes() {
  local id name status n
  local -A ready=()
  while read -r id name status; do
    [[ $status == Ready ]] && ready[$name]=$id
  done < <(docker node ls --format '{{.ID}} {{.Hostname}} {{.Status}}')
  while read -r id name status; do
    if [[ $status != Ready && -n ${ready[$name]:-} ]]; then
      docker node rm --force "$id" >/dev/null
      log "removed the old entry of $name ($id, $status)"
    fi
  done < <(docker node ls --format '{{.ID}} {{.Hostname}} {{.Status}}')
  for name in "${!ready[@]}"; do
    [[ $name =~ ^node([1-3])$ ]] || continue
    n=${BASH_REMATCH[1]}
    local labels=(--label-add "zone=$n" --label-add "etcd=$n")
    ((n > 1)) && labels+=(--label-add "db=$((n - 1))")
    docker node update "${labels[@]}" "${ready[$name]}" >/dev/null
    log "labelled $name: ${labels[*]//--label-add /}"
  done
}

# node1: the lab's schedule (backups, restore drill, weekly report) and the script its lines run.
install_schedule() {
  [[ $NODE == "$MANAGER" ]] || return 0
  write_if_changed /usr/local/sbin/swarmlab-job 755 <"$SCRIPT_DIR/swarmlab-job" || true
  write_if_changed /etc/cron.d/swarmlab 644 <"$SCRIPT_DIR/swarmlab.cron" || true
  # The jobs' log exists from the start: the runbooks read it before the first job has run.
  touch /var/log/swarmlab-jobs.log
}

# node1: the lab's git repository for Jenkins. The docker driver mounts the host's there (read-only); on VMs it is an
# empty bare repository, owned by vagrant, that the operator pushes to over SSH (docs/cicd.md). Made only when
# absent: a mount, or commits pushed earlier, are never touched.
ensure_git_repository() {
  [[ $NODE == "$MANAGER" ]] || return 0
  [[ -e $GIT_REPOSITORY ]] && return 0
  local owner=root
  id -u vagrant >/dev/null 2>&1 && owner=vagrant
  install -d -m 755 "${GIT_REPOSITORY%/*}"
  git init --quiet --bare --initial-branch=main "$GIT_REPOSITORY"
  chown -R "$owner:" "$GIT_REPOSITORY"
  log "made an empty git repository at $GIT_REPOSITORY (owner $owner)"
}

configure_firewall() {
  has_systemd || {
    log "no firewall on a container node (the host's engine isolates it)"
    return
  }
  write_if_changed /etc/nftables.conf 644 <"$SCRIPT_DIR/nftables.conf" || true
  systemctl enable --now nftables >/dev/null
  nft -f /etc/nftables.conf
}

usage() { sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; }

main() {
  local step=${1:-}
  NODE=${2:-$(hostname)}
  SHARED=${3:-}
  ADDR=${4:-}
  case $step in
    install) install_packages ;;
    engine)
      [[ -n $SHARED ]] || die "usage: provision.sh engine NODE SHARED"
      configure_engine
      install_schedule
      ensure_git_repository
      ;;
    swarm) [[ -n $ADDR ]] || die "usage: provision.sh swarm NODE SHARED ADDR" && join_swarm ;;
    labels) label_nodes ;;
    firewall) configure_firewall ;;
    all)
      [[ -n $ADDR ]] || die "usage: provision.sh all NODE SHARED ADDR"
      install_packages
      configure_engine
      install_schedule
      ensure_git_repository
      join_swarm
      configure_firewall
      ;;
    *)
      usage
      exit 2
      ;;
  esac
}

main "$@"
