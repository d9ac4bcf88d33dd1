#!/usr/bin/env bash
# mpirun's remote-shell agent for the simulated cluster of tests/e2e/netns.sh, used in place of
# ssh (`--mca plm_rsh_agent`): `netns_rsh.sh HOST COMMAND...` runs COMMAND (mpirun's orted
# daemon) inside the network namespace that owns HOST's address, with its own host name.
# FROST_NETNS_HOSTS maps addresses to namespaces and names: "addr=ns=name,addr=ns=name".
# FROST_NETNS_RO_DIRS (optional, per name: "name=dir1:dir2,...") bind-mounts those directories
# read-only for everything started on that node (ip netns exec gives each command its own
# mount namespace, so the other node keeps write access).
set -euo pipefail
host=$1
shift
ns="" name=""
IFS=, read -ra entries <<< "${FROST_NETNS_HOSTS:?netns_rsh.sh: FROST_NETNS_HOSTS is not set}"
for e in "${entries[@]}"; do
  IFS='=' read -r addr n nm <<< "$e"
  if [[ "$addr" == "$host" ]]; then ns=$n name=$nm; fi
done
[[ -n "$ns" ]] || { echo "netns_rsh.sh: unknown host '$host' (FROST_NETNS_HOSTS=$FROST_NETNS_HOSTS)" >&2; exit 1; }
ro=""
IFS=, read -ra ro_entries <<< "${FROST_NETNS_RO_DIRS:-}"
for e in "${ro_entries[@]}"; do
  [[ "${e%%=*}" == "$name" ]] && ro=${e#*=}
done
setup="hostname $name"
IFS=: read -ra ro_dirs <<< "$ro"
for d in "${ro_dirs[@]}"; do
  setup+=" && mount --bind '$d' '$d' && mount -o remount,bind,ro '$d'"
done
exec ip netns exec "$ns" unshare --uts sh -c "$setup && exec $*"
