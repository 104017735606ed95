#!/bin/bash
# mongod as a one-member replica set, initiated on its first start.
set -euo pipefail

mongod --replSet rs0 --bind_ip_all --dbpath /data/db --wiredTigerCacheSizeGB 0.25 &
pid=$!
# Pass the pod's SIGTERM on, so mongod shuts down cleanly instead of being killed later.
trap 'kill -TERM "$pid"; wait "$pid"' TERM INT

until mongosh --quiet --eval 'db.adminCommand({ping: 1})' >/dev/null 2>&1; do
  kill -0 "$pid"  # mongod is gone: fail, and let the container restart
  sleep 1
done
# Once initiated, rs.status() answers and nothing changes on later starts.
mongosh --quiet --eval "try { rs.status() } catch (e) {
  rs.initiate({_id: 'rs0', members: [{_id: 0, host: '$(hostname -f):27017'}]}) }" >/dev/null

wait "$pid"
