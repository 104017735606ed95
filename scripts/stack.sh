#!/usr/bin/env bash
# The local stack: RabbitMQ, FerretDB (MongoDB wire protocol, SQLite backend) and stripe-mock.
#   stack.sh install   install what is missing (idempotent)
#   stack.sh up        start what is not already answering, wait until each answers
#   stack.sh down      stop what `up` started
#   stack.sh status    say what answers
#   stack.sh rabbitmqctl ARGS...   run rabbitmqctl against the local node
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${LIVEVOTE_STACK_DIR:-$ROOT/.stack}"
TOOLS="${LIVEVOTE_TOOLS_DIR:-$HOME/.local/share/livevote/bin}"
FERRETDB_VERSION="v1.24.2"
# The build carries two fixes (see install_ferretdb). Its name changes with the pushdown's
# source, so a changed pushdown is built again; a change to the fixes here needs a new name.
FERRETDB_PUSHDOWN="$(sha256sum "$ROOT/scripts/ferretdb/id_pushdown.go" | cut -c1-12)"
FERRETDB="$TOOLS/ferretdb-$FERRETDB_VERSION-id-pushdown-explained-$FERRETDB_PUSHDOWN"
RABBITMQ_PORT="${LIVEVOTE_RABBITMQ_PORT:-5672}"
# The management API (queue depths and consumers for the operator's health page).
RABBITMQ_MANAGEMENT_PORT="${LIVEVOTE_RABBITMQ_MANAGEMENT_PORT:-15672}"
# Its Prometheus endpoint: queue depths per queue, as the dead-letter alert reads them.
RABBITMQ_PROMETHEUS_PORT="${LIVEVOTE_RABBITMQ_PROMETHEUS_PORT:-15692}"
MONGODB_PORT="${LIVEVOTE_MONGODB_PORT:-27017}"
# When SQLite makes a commit durable. In WAL mode, "normal" syncs the log at each
# checkpoint instead of at every commit: a commit survives the crash of any process
# (FerretDB's included) and may be lost only with the machine's power, which is
# MongoDB's own default (w:1 acknowledges before its journal's next sync, 100 ms at
# most). "full" syncs each command, and then a sync is most of a small write's cost.
FERRETDB_SYNCHRONOUS="${LIVEVOTE_FERRETDB_SYNCHRONOUS:-normal}"
# FerretDB's own metrics (commands served, by name), for the bench.
FERRETDB_METRICS_PORT="${LIVEVOTE_FERRETDB_METRICS_PORT:-8088}"
STRIPE_MOCK_PORT="${LIVEVOTE_STRIPE_MOCK_PORT:-12111}"

# A second stack beside the first (a soak next to a bench) names its own node, ports and
# folder: LIVEVOTE_RABBITMQ_NODE, LIVEVOTE_*_PORT, LIVEVOTE_STACK_DIR.
export RABBITMQ_NODENAME="${LIVEVOTE_RABBITMQ_NODE:-livevote@localhost}"
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_NODE_PORT="$RABBITMQ_PORT"
export RABBITMQ_DIST_PORT=$((RABBITMQ_PORT + 20000))
export RABBITMQ_MNESIA_BASE="$STATE/rabbitmq/mnesia"
export RABBITMQ_LOG_BASE="$STATE/rabbitmq/log"
export RABBITMQ_CONFIG_FILE="$STATE/rabbitmq/rabbitmq"
export RABBITMQ_ENABLED_PLUGINS_FILE="$STATE/rabbitmq/enabled_plugins"
export RABBITMQ_PID_FILE="$STATE/run/rabbitmq.pid"
export ERL_EPMD_ADDRESS=127.0.0.1
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"

# Run the server and CLI as the invoking user (Debian's wrappers switch to the rabbitmq user,
# which cannot write the project's state folder and holds another Erlang cookie).
RABBITMQ_BIN=/usr/lib/rabbitmq/bin
export ERL_CRASH_DUMP="$STATE/rabbitmq/erl_crash.dump"
rabbitmqctl() { "$RABBITMQ_BIN/rabbitmqctl" "$@"; }

LOG_PREFIX=stack
# shellcheck source=scripts/servers.sh
source "$ROOT/scripts/servers.sh"

apt_install() {  # Debian packages...
  if [ ! -f /var/lib/apt/lists/lock ] || [ -z "$(ls /var/lib/apt/lists/ 2>/dev/null | grep -v lock)" ]; then
    apt-get update -qq
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }
}

install_rabbitmq() {
  command -v rabbitmq-server >/dev/null && return
  log "installing rabbitmq-server (Debian package)"
  apt_install rabbitmq-server
}

# The browser tests drive Debian's Chromium (Playwright's own download is not reachable),
# with the fonts the pages use.
install_browser() {
  command -v chromium-headless-shell >/dev/null && [ -d /usr/share/fonts/truetype/liberation ] && return
  log "installing chromium-headless-shell and fonts-liberation (Debian packages)"
  apt_install chromium-headless-shell fonts-liberation
}

# The receipt tests turn a receipt's PDF into a PNG (pdftoppm) for a reviewer to look at.
install_poppler() {
  command -v pdftoppm >/dev/null && return
  log "installing poppler-utils (Debian package)"
  apt_install poppler-utils
}

install_ferretdb() {
  [ -x "$FERRETDB" ] && return
  log "building FerretDB $FERRETDB_VERSION from the Go module proxy"
  local work; work=$(mktemp -d)
  local dir
  dir=$(cd "$work" && go mod init tmp >/dev/null 2>&1 && go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
  cp -r "$dir" "$work/src" && chmod -R u+w "$work/src"
  # The release build stamps its version from a generated file that the module zip lacks.
  echo "$FERRETDB_VERSION" > "$work/src/build/version/version.txt"
  # FerretDB v1's SQLite backend filters on `_id` as `->'$._id'` but indexes `->"_id"`;
  # SQLite matches index expressions by their text, so every `_id` lookup, update and
  # delete scanned the whole table (FerretDB#4646, fixed only in v2). Writing the filter
  # as the index writes it makes them index seeks; what they return is unchanged.
  local metadata="$work/src/internal/backends/sqlite/metadata/metadata.go"
  sed -i "s|IDColumn = DefaultColumn + \"->'\$._id'\"|IDColumn = DefaultColumn + \"->'_id'\"|" "$metadata"
  grep -q "IDColumn = DefaultColumn + \"->'_id'\"" "$metadata" \
    || { log "the FerretDB _id index fix no longer applies to $FERRETDB_VERSION"; exit 1; }
  # It also pushes `_id` down only when the filter is that one equality: `{_id, version}`
  # or an `_id` range (a user's inbox) scanned. scripts/ferretdb/id_pushdown.go pushes an
  # equality among other keys and the prefix of a string range down as index seeks.
  local collection="$work/src/internal/backends/sqlite/collection.go"
  cp "$ROOT/scripts/ferretdb/id_pushdown.go" "$work/src/internal/backends/sqlite/"
  perl -0pi -e 's/\tif params\.Filter\.Len\(\) == 1 \{\n\t\tv, _ := params\.Filter\.Get\("_id"\)\n\t\tswitch v\.\(type\) \{\n\t\tcase string, types\.ObjectID:\n\t\t\twhereClause = [^\n]*\n\t\t\targs = [^\n]*\n\t\t\}\n\t\}\n/\twhereClause, args = idPushdown(params.Filter)\n/' "$collection"
  # The same in `explain`, so that a test can see the plan (an index SEARCH, not a SCAN).
  perl -0pi -e 's/\tif params\.Filter\.Len\(\) == 1 \{\n\t\tv, _ := params\.Filter\.Get\("_id"\)\n\t\tswitch v\.\(type\) \{\n\t\tcase string, types\.ObjectID:\n\t\t\tfilterPushdown = true\n\t\t\twhereClause = [^\n]*\n\t\t\targs = [^\n]*\n\t\t\}\n\t\}\n/\twhereClause, args = idPushdown(params.Filter)\n\tfilterPushdown = whereClause != ""\n/' "$collection"
  [ "$(grep -c "idPushdown(params.Filter)" "$collection")" = 2 ] \
    || { log "the FerretDB _id pushdown no longer applies to $FERRETDB_VERSION"; exit 1; }
  (cd "$work/src" && GOFLAGS=-mod=mod go build -o "$FERRETDB" ./cmd/ferretdb)
  rm -rf "$work"
}

install_stripe_mock() {
  [ -x "$TOOLS/stripe-mock" ] && return
  log "installing stripe-mock from the Go module proxy"
  GOBIN="$TOOLS" go install github.com/stripe/stripe-mock@latest
}

install_kustomize() {  # renders deploy/k8s in tests/deploy
  local version=v5.8.1  # the newest that builds with Go 1.24
  [ -x "$TOOLS/kustomize" ] && [ "$("$TOOLS/kustomize" version 2>/dev/null)" = "$version" ] && return
  log "installing kustomize $version from the Go module proxy"
  GOBIN="$TOOLS" go install "sigs.k8s.io/kustomize/kustomize/v5@$version"
}

# Checks and unit-tests deploy/k8s's Prometheus alert rules in tests/deploy. Taken out of
# Debian's prometheus package rather than installed with it: the package would also set up
# a Prometheus server to start with the machine.
install_promtool() {
  [ -x "$TOOLS/promtool" ] && return
  log "installing promtool (from Debian's prometheus package)"
  local work; work=$(mktemp -d)
  (cd "$work" && { apt-get download prometheus >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get download prometheus >/dev/null; }; })
  dpkg-deb -x "$work"/prometheus_*.deb "$work/root"
  install -m 0755 "$work/root/usr/bin/promtool" "$TOOLS/promtool"
  rm -rf "$work"
}

cmd_install() {
  mkdir -p "$TOOLS"
  install_promtool
  install_rabbitmq
  install_ferretdb
  install_stripe_mock
  install_kustomize
  install_browser
  install_poppler
}

rabbitmq_ready() { rabbitmqctl -q await_startup --timeout 5 >/dev/null 2>&1; }

start_rabbitmq() {
  if port_open "$RABBITMQ_PORT"; then
    log "RabbitMQ already answers on $RABBITMQ_PORT"
    ensure_management
    return
  fi
  mkdir -p "$STATE/rabbitmq/log" "$STATE/run"
  cat > "$STATE/rabbitmq/rabbitmq.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$RABBITMQ_PORT
management.tcp.ip = 127.0.0.1
management.tcp.port = $RABBITMQ_MANAGEMENT_PORT
prometheus.tcp.ip = 127.0.0.1
prometheus.tcp.port = $RABBITMQ_PROMETHEUS_PORT
prometheus.return_per_object_metrics = true
# Queue statistics every second instead of five, so the health page follows closely.
collect_statistics_interval = 1000
log.console = false
log.file.level = warning
# Quorum queues hold their write-ahead log in memory until it is flushed to segment files;
# at the default size (512 MB) the broker of a day of test runs kept growing towards it.
# The same bound as the cluster's (deploy/k8s/base/datastores/rabbitmq.conf).
raft.wal_max_size_bytes = 64000000
CONF
  echo "[rabbitmq_management,rabbitmq_prometheus]." > "$STATE/rabbitmq/enabled_plugins"
  log "starting RabbitMQ on 127.0.0.1:$RABBITMQ_PORT"
  nohup "$RABBITMQ_BIN/rabbitmq-server" >"$STATE/rabbitmq/log/stdout.log" 2>&1 &
  echo $! > "$STATE/run/rabbitmq.started"
  wait_for RabbitMQ 90 rabbitmq_ready
  wait_for "RabbitMQ management" 60 port_open "$RABBITMQ_MANAGEMENT_PORT"
  wait_for "RabbitMQ Prometheus endpoint" 60 port_open "$RABBITMQ_PROMETHEUS_PORT"
}

# A node started before the management and Prometheus plugins were part of the stack
# gets them without a restart, on loopback like the rest.
ensure_management() {
  [ -f "$STATE/rabbitmq/enabled_plugins" ] || return 0
  if ! port_open "$RABBITMQ_MANAGEMENT_PORT"; then
    log "enabling RabbitMQ's management API on 127.0.0.1:$RABBITMQ_MANAGEMENT_PORT"
    rabbitmqctl -q eval "application:set_env(rabbitmq_management, tcp_config, [{ip, \"127.0.0.1\"}, {port, $RABBITMQ_MANAGEMENT_PORT}])." >/dev/null
    "$RABBITMQ_BIN/rabbitmq-plugins" -q enable rabbitmq_management >/dev/null
    wait_for "RabbitMQ management" 60 port_open "$RABBITMQ_MANAGEMENT_PORT"
  fi
  if ! port_open "$RABBITMQ_PROMETHEUS_PORT"; then
    log "enabling RabbitMQ's Prometheus endpoint on 127.0.0.1:$RABBITMQ_PROMETHEUS_PORT"
    rabbitmqctl -q eval "application:set_env(rabbitmq_prometheus, tcp_config, [{ip, \"127.0.0.1\"}, {port, $RABBITMQ_PROMETHEUS_PORT}])." >/dev/null
    "$RABBITMQ_BIN/rabbitmq-plugins" -q enable rabbitmq_prometheus >/dev/null
    # After loading: the plugin's own defaults would replace a value set before.
    rabbitmqctl -q eval "application:set_env(rabbitmq_prometheus, return_per_object_metrics, true)." >/dev/null
    wait_for "RabbitMQ Prometheus endpoint" 60 port_open "$RABBITMQ_PROMETHEUS_PORT"
  fi
}

start_ferretdb() {
  if port_open "$MONGODB_PORT"; then log "a MongoDB-wire server already answers on $MONGODB_PORT"; return; fi
  mkdir -p "$STATE/ferretdb/data" "$STATE/run"
  log "starting FerretDB on 127.0.0.1:$MONGODB_PORT"
  nohup "$FERRETDB" --handler=sqlite --sqlite-url="file:$STATE/ferretdb/data/?_pragma=synchronous($FERRETDB_SYNCHRONOUS)" \
    --state-dir="$STATE/ferretdb" --listen-addr="127.0.0.1:$MONGODB_PORT" \
    --debug-addr="127.0.0.1:$FERRETDB_METRICS_PORT" --telemetry=disable --log-level=WARN \
    >"$STATE/ferretdb/ferretdb.log" 2>&1 &
  echo $! > "$STATE/run/ferretdb.started"
  wait_for FerretDB 30 port_open "$MONGODB_PORT"
}

start_stripe_mock() {
  if port_open "$STRIPE_MOCK_PORT"; then log "stripe-mock already answers on $STRIPE_MOCK_PORT"; return; fi
  mkdir -p "$STATE/run"
  log "starting stripe-mock on 127.0.0.1:$STRIPE_MOCK_PORT"
  nohup "$TOOLS/stripe-mock" -http-addr "127.0.0.1:$STRIPE_MOCK_PORT" >"$STATE/stripe-mock.log" 2>&1 &
  echo $! > "$STATE/run/stripe-mock.started"
  wait_for stripe-mock 30 port_open "$STRIPE_MOCK_PORT"
}

cmd_up() {
  cmd_install
  start_rabbitmq
  start_ferretdb
  start_stripe_mock
}

stop_started() {  # name
  local file="$STATE/run/$1.started"
  [ -f "$file" ] || return 0
  local pid; pid=$(cat "$file")
  if [ "$1" = rabbitmq ]; then
    rabbitmqctl -q stop >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
  else
    kill "$pid" 2>/dev/null || true
  fi
  for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  rm -f "$file"
  log "stopped $1"
}

cmd_down() {
  stop_started stripe-mock
  stop_started ferretdb
  stop_started rabbitmq
}

cmd_status() {
  local name port
  for pair in "RabbitMQ:$RABBITMQ_PORT" "RabbitMQ-management:$RABBITMQ_MANAGEMENT_PORT" "RabbitMQ-prometheus:$RABBITMQ_PROMETHEUS_PORT" "FerretDB:$MONGODB_PORT" "stripe-mock:$STRIPE_MOCK_PORT"; do
    name=${pair%%:*}; port=${pair##*:}
    if port_open "$port"; then echo "$name: up (127.0.0.1:$port)"; else echo "$name: down"; fi
  done
}

case "${1:-}" in
  install) cmd_install ;;
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  rabbitmqctl) shift; exec "$RABBITMQ_BIN/rabbitmqctl" "$@" ;;
  *) echo "usage: $0 install|up|down|status|rabbitmqctl ARGS" >&2; exit 2 ;;
esac
