# What scripts/stack.sh and scripts/cluster.sh share: saying what they do, and waiting
# for a server on loopback. Sourced, after the caller sets LOG_PREFIX.

log() { printf '[%s] %s\n' "$LOG_PREFIX" "$*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {  # name, seconds, command...
  local name=$1 seconds=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@"; do
    if ((SECONDS >= deadline)); then log "$name did not answer within ${seconds}s"; return 1; fi
    sleep 0.5
  done
}
