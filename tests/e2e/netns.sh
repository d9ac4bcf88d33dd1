# A simulated two-node cluster on one machine (sourced by the end-to-end tests): two network
# namespaces ("node0", "node1") joined by a veth pair on a private /24, and mpirun launching
# ranks on both over TCP. mpirun runs inside node0; it starts its daemon on node1 through
# netns_rsh.sh instead of ssh. Both the MPI wire-up (OOB) and the MPI traffic (BTL tcp) are
# restricted to the veth subnet, so nothing goes over the host's own interfaces; ranks on one
# node talk through shared memory (vader), ranks on different nodes through the veth.
# Needs root (ip netns). Everything is removed again by netns_down (also on EXIT via lib.sh's
# trap chain, see netns_up).

NETNS_ID="frost$$"
NETNS0="${NETNS_ID}n0" NETNS1="${NETNS_ID}n1"
NETNS_VETH0="fv$$a" NETNS_VETH1="fv$$b"
NETNS_NET="10.231.$(( $$ % 250 + 1 ))"
NETNS_ADDR0="$NETNS_NET.1" NETNS_ADDR1="$NETNS_NET.2"

netns_available() {
  [[ "$(id -u)" == 0 ]] && command -v ip > /dev/null && command -v unshare > /dev/null
}

netns_up() {
  ip netns add "$NETNS0"
  ip netns add "$NETNS1"
  trap 'netns_down; [[ -n "${FROST_KEEP_WORK:-}" ]] || rm -rf "$WORK"' EXIT
  ip link add "$NETNS_VETH0" type veth peer name "$NETNS_VETH1"
  ip link set "$NETNS_VETH0" netns "$NETNS0"
  ip link set "$NETNS_VETH1" netns "$NETNS1"
  ip -n "$NETNS0" addr add "$NETNS_ADDR0/24" dev "$NETNS_VETH0"
  ip -n "$NETNS1" addr add "$NETNS_ADDR1/24" dev "$NETNS_VETH1"
  for ns in "$NETNS0" "$NETNS1"; do ip -n "$ns" link set lo up; done
  ip -n "$NETNS0" link set "$NETNS_VETH0" up
  ip -n "$NETNS1" link set "$NETNS_VETH1" up
}

# Kills whatever still runs in the namespaces and removes them (and with them the veth pair).
netns_down() {
  for ns in "$NETNS0" "$NETNS1"; do
    ip netns pids "$ns" 2> /dev/null | xargs -r kill -9 2> /dev/null || true
    ip netns del "$ns" 2> /dev/null || true
  done
}

# Processes still running in either namespace (one pid per line; empty when none).
netns_pids() { ip netns pids "$NETNS0" 2> /dev/null; ip netns pids "$NETNS1" 2> /dev/null; }

# Bytes received on node1's veth (proof that traffic crossed the link).
netns_rx_bytes() { cat "/sys/class/net/$NETNS_VETH1/statistics/rx_bytes" 2> /dev/null \
  || ip netns exec "$NETNS1" cat "/sys/class/net/$NETNS_VETH1/statistics/rx_bytes"; }

netns_link_down() { ip -n "$NETNS0" link set "$NETNS_VETH0" down; }
netns_link_up() {
  ip -n "$NETNS0" link set "$NETNS_VETH0" up
  ip -n "$NETNS1" link set "$NETNS_VETH1" up
}

# netns_mpirun RANKS_PER_NODE PROGRAM ARGS...: 2 x RANKS_PER_NODE ranks through
# launch/frost-mpirun, global ranks 0..RANKS_PER_NODE-1 on node0, the rest on node1.
# FROST_FAULT_INJECT and FROST_FAULT_HOLD_DIR, when set, reach every rank.
netns_mpirun() {
  local per=$1
  shift
  local agent="$FROST_SRC/tests/e2e/netns_rsh.sh"
  local -a env_args=()
  local v
  for v in FROST_FAULT_INJECT FROST_FAULT_HOLD_DIR; do [[ -n "${!v:-}" ]] && env_args+=(-x "$v"); done
  FROST_NETNS_HOSTS="$NETNS_ADDR0=$NETNS0=node0,$NETNS_ADDR1=$NETNS1=node1" \
    ip netns exec "$NETNS0" unshare --uts sh -c 'hostname node0 && exec "$@"' sh \
    "$FROST_SRC/launch/frost-mpirun" --quiet --host "$NETNS_ADDR0:$per,$NETNS_ADDR1:$per" -np $((2 * per)) --bind-to none \
      --mca plm_rsh_agent "$agent" \
      --mca btl self,vader,tcp --mca btl_tcp_if_include "$NETNS_NET.0/24" \
      --mca oob_tcp_if_include "$NETNS_NET.0/24" \
      "${env_args[@]}" "$@"
}
