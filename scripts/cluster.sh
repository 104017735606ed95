#!/usr/bin/env bash
# A Kubernetes control plane on loopback for the tests of deploy/k8s: etcd, kube-apiserver,
# kube-controller-manager and kube-scheduler, with kwok standing in for the kubelets (its
# fake nodes "run" pods without containers, so Deployments become Available).
#   cluster.sh install   build what is missing (once per machine; idempotent)
#   cluster.sh up        start what is not already running, wait until the nodes are Ready
#   cluster.sh down      stop what `up` started
#   cluster.sh status    say what answers
#   cluster.sh kubeconfig   print the path of the kubeconfig (export KUBECONFIG=...)
#   cluster.sh kubectl ARGS...   run our kubectl against the control plane
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${LIVEVOTE_CLUSTER_DIR:-$ROOT/.cluster}"
TOOLS="${LIVEVOTE_TOOLS_DIR:-$HOME/.local/share/livevote/bin}"
KUBE_VERSION="v1.37.2"
ETCD_VERSION="v3.6.16"
KWOK_VERSION="v0.8.0"
# Versioned names: a new version is built beside the old one, never confused with it.
KUBE_APISERVER="$TOOLS/kube-apiserver-$KUBE_VERSION"
KUBE_CONTROLLER_MANAGER="$TOOLS/kube-controller-manager-$KUBE_VERSION"
KUBE_SCHEDULER="$TOOLS/kube-scheduler-$KUBE_VERSION"
KUBECTL="$TOOLS/kubectl-$KUBE_VERSION"
ETCD="$TOOLS/etcd-$ETCD_VERSION"
KWOK="$TOOLS/kwok-$KWOK_VERSION"
# Loopback ports, clear of the stack's (5672, 15672, 27017, 12111) and the services'.
ETCD_PORT="${LIVEVOTE_ETCD_PORT:-23790}"
ETCD_PEER_PORT="${LIVEVOTE_ETCD_PEER_PORT:-23800}"
APISERVER_PORT="${LIVEVOTE_APISERVER_PORT:-16443}"
CONTROLLER_MANAGER_PORT="${LIVEVOTE_CONTROLLER_MANAGER_PORT:-16257}"
SCHEDULER_PORT="${LIVEVOTE_SCHEDULER_PORT:-16259}"
KWOK_PORT="${LIVEVOTE_KWOK_PORT:-16280}"
NODES="${LIVEVOTE_CLUSTER_NODES:-2}"
KUBECONFIG_FILE="$STATE/kubeconfig"
PKI="$STATE/pki"
RUN="$STATE/run"
LOGS="$STATE/log"

LOG_PREFIX=cluster
# shellcheck source=scripts/servers.sh
source "$ROOT/scripts/servers.sh"

# Go builds yield the CPU to whatever else runs on the machine.
go_nice() { nice -n 19 go "$@"; }

timed() {  # what, command...: run it and say how long it took
  local what=$1; shift
  local start=$SECONDS
  "$@"
  log "$what built in $((SECONDS - start))s"
}

module_dir() {  # module@version: download it, print its folder in the module cache
  local work; work=$(mktemp -d)
  (cd "$work" && go mod init tmp >/dev/null 2>&1 \
    && go mod download -json "$1" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
  rm -rf "$work"
}

# kube-apiserver, kube-controller-manager, kube-scheduler and kubectl from the
# k8s.io/kubernetes module. Its go.mod points the k8s.io/* staging modules at
# ./staging/src (a go.work and a replace block), which the module's zip does not hold;
# the same modules are published at v0.<minor>.<patch>, so the bare `v0.0.0`
# requirements are pinned to those and the replaces dropped (pseudo-versions stay).
KUBE_BUILD="$TOOLS/.build/kubernetes-$KUBE_VERSION"

kube_source() {
  [ -f "$KUBE_BUILD/.ready" ] && return
  log "preparing k8s.io/kubernetes@$KUBE_VERSION from the Go module proxy"
  local dir; dir=$(module_dir "k8s.io/kubernetes@$KUBE_VERSION")
  [ -n "$dir" ] || { log "k8s.io/kubernetes@$KUBE_VERSION is not on the module proxy"; exit 1; }
  rm -rf "$KUBE_BUILD"
  rmdir "$(dirname "$KUBE_BUILD")" 2>/dev/null || true
  mkdir -p "$(dirname "$KUBE_BUILD")"
  cp -r "$dir" "$KUBE_BUILD" && chmod -R u+w "$KUBE_BUILD"
  local staging="v0.${KUBE_VERSION#v1.}"
  (
    cd "$KUBE_BUILD"
    rm -rf go.work go.work.sum vendor
    sed -i -e '/^replace (/,/^)/d' \
      -e "s#^\(\s*k8s\.io/[a-z0-9-]*\) v0\.0\.0\$#\1 $staging#" go.mod
    if grep -qE '^\s*k8s\.io/[a-z0-9-]+ v0\.0\.0$' go.mod || grep -q '^replace' go.mod; then
      log "the go.mod of k8s.io/kubernetes@$KUBE_VERSION is not laid out as expected"; exit 1
    fi
    go_nice mod tidy >/dev/null
  )
  touch "$KUBE_BUILD/.ready"
}

kube_build() {  # command, output
  local version_pkgs="k8s.io/component-base/version k8s.io/client-go/pkg/version"
  local minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
  local ldflags="-s -w" pkg
  for pkg in $version_pkgs; do
    ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean"
  done
  (cd "$KUBE_BUILD" && go_nice build -ldflags "$ldflags" -o "$2.tmp" "./cmd/$1" && mv "$2.tmp" "$2")
}

install_kube() {
  local name binary missing=()
  for name in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    binary="$TOOLS/$name-$KUBE_VERSION"
    [ -x "$binary" ] || missing+=("$name")
  done
  ((${#missing[@]})) || return 0
  kube_source
  for name in "${missing[@]}"; do
    log "building $name $KUBE_VERSION (minutes, the first one most)"
    timed "$name" kube_build "$name" "$TOOLS/$name-$KUBE_VERSION"
  done
  rm -rf "$KUBE_BUILD"
  rmdir "$(dirname "$KUBE_BUILD")" 2>/dev/null || true
}

# etcd's server module carries replace directives, so `go install` refuses it; a module
# of our own that calls its main builds it from the proxy as a dependency.
install_etcd() {
  [ -x "$ETCD" ] && return
  log "building etcd $ETCD_VERSION from the Go module proxy"
  local work; work=$(mktemp -d)
  cat > "$work/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  (
    cd "$work" && go mod init livevote.local/etcd >/dev/null 2>&1 \
      && go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null 2>&1 \
      && go_nice mod tidy >/dev/null 2>&1 \
      && timed etcd go_nice build -ldflags "-s -w" -o "$ETCD.tmp" . && mv "$ETCD.tmp" "$ETCD"
  )
  rm -rf "$work"
}

install_kwok() {
  [ -x "$KWOK" ] && return
  log "building kwok $KWOK_VERSION from the Go module proxy"
  local work; work=$(mktemp -d)
  timed kwok env GOBIN="$work" nice -n 19 go install "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  mv "$work/kwok" "$KWOK"
  rm -rf "$work"
}

cmd_install() {
  mkdir -p "$TOOLS"
  command -v openssl >/dev/null || { log "openssl is needed"; exit 1; }
  install_etcd
  install_kwok
  install_kube
}

kubectl() { "$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" "$@"; }

# Keys and certificates of a throwaway control plane: a CA, the API server's serving
# certificate, the fake kubelets' serving certificate (kubectl logs/exec reach kwok
# through the API server), the service-account signing key and one admin token.
make_pki() {
  [ -f "$PKI/.ready" ] && [ -f "$KUBECONFIG_FILE" ] && return
  log "generating certificates, keys and a token (openssl)"
  rm -rf "$PKI" && mkdir -p "$PKI" && chmod 700 "$PKI"
  (
    cd "$PKI"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 \
      -subj "/CN=livevote-test-ca" 2>/dev/null
    local name san
    for name in apiserver kwok; do
      san="IP:127.0.0.1,DNS:localhost"
      [ "$name" = apiserver ] && san+=",DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.96.0.1"
      openssl req -newkey rsa:2048 -nodes -keyout "$name.key" -out "$name.csr" \
        -subj "/CN=livevote-test-$name" 2>/dev/null
      printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' "$san" > "$name.ext"
      openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial \
        -out "$name.crt" -days 3650 -extfile "$name.ext" 2>/dev/null
      rm -f "$name.csr" "$name.ext"
    done
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    # token,user,uid,"groups": one administrator for the tests, the controllers and kwok.
    printf '%s,livevote-admin,livevote-admin,"system:masters"\n' "$(openssl rand -hex 24)" > tokens.csv
  )
  local token; token=$(cut -d, -f1 "$PKI/tokens.csv")
  cat > "$KUBECONFIG_FILE" <<YAML
apiVersion: v1
kind: Config
clusters:
  - name: livevote-test
    cluster:
      server: https://127.0.0.1:$APISERVER_PORT
      certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")
users:
  - name: livevote-admin
    user:
      token: $token
contexts:
  - name: livevote-test
    context:
      cluster: livevote-test
      user: livevote-admin
current-context: livevote-test
YAML
  chmod 600 "$KUBECONFIG_FILE"
  touch "$PKI/.ready"
}

start() {  # name, command...: in the background, its output in $LOGS/name.log
  local name=$1; shift
  nohup "$@" >"$LOGS/$name.log" 2>&1 &
  echo $! > "$RUN/$name.started"
}

alive() { [ -f "$RUN/$1.started" ] && kill -0 "$(cat "$RUN/$1.started")" 2>/dev/null; }

running() {  # name, port: started by us and still there, its port answering
  alive "$1" && port_open "$2"
}

fail_with_log() {  # name
  log "$1 did not come up; the end of $LOGS/$1.log:"
  tail -n 20 "$LOGS/$1.log" >&2 || true
  exit 1
}

start_etcd() {
  log "starting etcd on 127.0.0.1:$ETCD_PORT (fresh data)"
  rm -rf "$STATE/etcd"
  mkdir -p "$STATE/etcd"
  # A control plane for tests: its data is thrown away, so no fsync.
  start etcd "$ETCD" --name livevote-test --data-dir "$STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "livevote-test=http://127.0.0.1:$ETCD_PEER_PORT" \
    --listen-metrics-urls "" --unsafe-no-fsync --log-level warn
  wait_for etcd 30 curl -fs "http://127.0.0.1:$ETCD_PORT/health" -o /dev/null || fail_with_log etcd
}

start_apiserver() {
  log "starting kube-apiserver on 127.0.0.1:$APISERVER_PORT"
  # No endpoint reconciler: the `kubernetes` Service would otherwise point at 127.0.0.1,
  # which the API server refuses.
  start kube-apiserver "$KUBE_APISERVER" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$APISERVER_PORT" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --endpoint-reconciler-type=none \
    --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --client-ca-file="$PKI/ca.crt" --token-auth-file="$PKI/tokens.csv" \
    --authorization-mode=RBAC \
    --service-account-issuer=https://kubernetes.default.svc \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --service-cluster-ip-range=10.96.0.0/16 \
    --kubelet-certificate-authority="$PKI/ca.crt" \
    --kubelet-preferred-address-types=InternalIP \
    --profiling=false
  wait_for kube-apiserver 60 api_ready || fail_with_log kube-apiserver
}

api_ready() { [ "$(kubectl get --raw /readyz 2>/dev/null)" = ok ]; }

# The autoscalers look every 5 s instead of 15; a node is taken for lost after 2 minutes
# without a Lease renewal (a busy machine can delay kwok's).
start_controller_manager() {
  log "starting kube-controller-manager on 127.0.0.1:$CONTROLLER_MANAGER_PORT"
  start kube-controller-manager "$KUBE_CONTROLLER_MANAGER" \
    --kubeconfig="$KUBECONFIG_FILE" --authentication-kubeconfig="$KUBECONFIG_FILE" \
    --authorization-kubeconfig="$KUBECONFIG_FILE" \
    --bind-address=127.0.0.1 --secure-port="$CONTROLLER_MANAGER_PORT" --leader-elect=false \
    --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
    --horizontal-pod-autoscaler-sync-period=5s --node-monitor-grace-period=2m \
    --profiling=false
  wait_for kube-controller-manager 60 healthy "$CONTROLLER_MANAGER_PORT" || fail_with_log kube-controller-manager
}

start_scheduler() {
  log "starting kube-scheduler on 127.0.0.1:$SCHEDULER_PORT"
  start kube-scheduler "$KUBE_SCHEDULER" \
    --kubeconfig="$KUBECONFIG_FILE" --authentication-kubeconfig="$KUBECONFIG_FILE" \
    --authorization-kubeconfig="$KUBECONFIG_FILE" \
    --bind-address=127.0.0.1 --secure-port="$SCHEDULER_PORT" --leader-elect=false
  wait_for kube-scheduler 60 healthy "$SCHEDULER_PORT" || fail_with_log kube-scheduler
}

healthy() {  # port: a component's /healthz (open to anyone)
  [ "$(curl -sk --max-time 2 "https://127.0.0.1:$1/healthz" 2>/dev/null)" = ok ]
}

start_kwok() {
  log "starting kwok on 127.0.0.1:$KWOK_PORT"
  local stages=() stage
  for stage in "$ROOT"/scripts/kwok/*.yaml; do
    [ "$(basename "$stage")" = storage-class.yaml ] || stages+=("$stage")
  done
  # The fake nodes' address and kubelet port are kwok's own server, on loopback. kwok
  # renews each node's Lease (without one the node controller takes a node for lost
  # after 50 s and marks its pods unready for good).
  start kwok "$KWOK" --kubeconfig="$KUBECONFIG_FILE" \
    --config="$(IFS=,; echo "${stages[*]}")" \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --node-ip=127.0.0.1 --node-port="$KWOK_PORT" --server-address="127.0.0.1:$KWOK_PORT" \
    --node-lease-duration-seconds=40 \
    --tls-cert-file="$PKI/kwok.crt" --tls-private-key-file="$PKI/kwok.key"
  wait_for kwok 30 port_open "$KWOK_PORT" || fail_with_log kwok
}

register_nodes() {
  local i manifests=""
  for ((i = 0; i < NODES; i++)); do
    manifests+="---
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: \"0\"
  labels:
    kubernetes.io/hostname: kwok-node-$i
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
"
  done
  printf '%s' "$manifests" | kubectl apply -f - >/dev/null
  kubectl apply -f "$ROOT/scripts/kwok/storage-class.yaml" >/dev/null
  kubectl wait --for=condition=Ready node --all --timeout=60s >/dev/null \
    || { log "the fake nodes did not become Ready"; fail_with_log kwok; }
  log "ready: $NODES fake nodes; KUBECONFIG=$KUBECONFIG_FILE"
}

cmd_up() {
  cmd_install
  mkdir -p "$RUN" "$LOGS"
  local pair
  for pair in "etcd:$ETCD_PORT" "kube-apiserver:$APISERVER_PORT" \
    "kube-controller-manager:$CONTROLLER_MANAGER_PORT" "kube-scheduler:$SCHEDULER_PORT" \
    "kwok:$KWOK_PORT"; do
    # Another control plane (another checkout's) holds the port: say so rather than
    # start beside it.
    if port_open "${pair##*:}" && ! alive "${pair%%:*}"; then
      log "127.0.0.1:${pair##*:} (${pair%%:*}) is taken by a process this checkout did not start;"
      log "stop it, or choose other ports (LIVEVOTE_*_PORT, see README)"
      exit 1
    fi
  done
  if ! running etcd "$ETCD_PORT"; then
    # A new etcd holds nothing: whatever runs against an old one starts over.
    stop_all
    rm -f "$PKI/.ready"
    make_pki
    start_etcd
  fi
  make_pki
  running kube-apiserver "$APISERVER_PORT" || start_apiserver
  running kube-controller-manager "$CONTROLLER_MANAGER_PORT" || start_controller_manager
  running kube-scheduler "$SCHEDULER_PORT" || start_scheduler
  running kwok "$KWOK_PORT" || start_kwok
  register_nodes
}

stop_started() {  # name
  local file="$RUN/$1.started"
  [ -f "$file" ] || return 0
  local pid; pid=$(cat "$file")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null || true
    log "stopped $1"
  fi
  rm -f "$file"
}

stop_all() {
  local name
  for name in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
    stop_started "$name"
  done
}

cmd_down() { stop_all; }

cmd_status() {
  local pair name port
  for pair in "etcd:$ETCD_PORT" "kube-apiserver:$APISERVER_PORT" \
    "kube-controller-manager:$CONTROLLER_MANAGER_PORT" "kube-scheduler:$SCHEDULER_PORT" \
    "kwok:$KWOK_PORT"; do
    name=${pair%%:*}; port=${pair##*:}
    if running "$name" "$port"; then echo "$name: up (127.0.0.1:$port)"; else echo "$name: down"; fi
  done
  if [ -x "$KUBECTL" ] && [ -f "$KUBECONFIG_FILE" ] && api_ready; then
    kubectl get nodes --no-headers 2>/dev/null | sed 's/^/node: /'
  fi
}

case "${1:-}" in
  install) cmd_install ;;
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  kubeconfig) echo "$KUBECONFIG_FILE" ;;
  kubectl) shift; exec "$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" "$@" ;;
  *) echo "usage: $0 install|up|down|status|kubeconfig|kubectl ARGS" >&2; exit 2 ;;
esac
