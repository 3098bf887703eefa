# shellcheck shell=bash
# scripts/lib/lab_inventory.sh — the only writer of the lab inventory (docs/inventory.md,
# read by podpath's userspace/inventory/lab_inventory.cpp). Every record is written by jq
# from --arg values or TSV fields, never escaped by hand. The lab keeps records in its data
# dir while it builds (lab.json, nodes/nodeI.json, pods/nodeI.json for the pods of 'up',
# pods/<netns>.json for a pod of 'add-pod') and assembles inventory.json from them,
# atomically, once the lab is complete (inventory_write).
# tests/unit/lab_inventory_contract_test.cpp runs these functions on fixture data and reads
# the result back with podpath's reader. Sourced by scripts/lab; uses lab_common.sh and
# lab_state.sh (LAB, LAB_DIR, LAB_CG, the addressing plan).

# inventory_record_lab NODES PODS_PER_NODE CONTAINERS COMMAND: <data dir>/lab.json, the
# schema version, the lab's name, when and how 'up' built it.
inventory_record_lab() {
  jq -n --argjson v "$LAB_SCHEMA_VERSION" --arg lab "$LAB" --arg created "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    --argjson n "$1" --argjson m "$2" --argjson k "$3" --arg cmd "$4" \
    '{ version: $v, lab: $lab, created: $created, nodes: $n, pods_per_node: $m,
       containers_per_pod: $k, command: $cmd }' >"$LAB_DIR/lab.json"
}

# inventory_record_node I: <data dir>/nodes/nodeI.json, node I of the addressing plan
# (an entry of nodes[]).
inventory_record_node() {
  local i=$1
  jq -n --arg name "node$i" --arg netns "$(node_ns "$i")" --arg ip "$(node_ip "$i")" --arg cidr "$(node_cidr "$i")" \
    --arg brip "$(node_brip "$i")" --arg up "$NODE_UPLINK" --arg br "$NODE_BRIDGE" --arg dk "$NODE_DOCKER" '
    { name: $name, netns: $netns, underlay_ip: $ip, pod_cidr: $cidr, bridge_ip: $brip,
      interfaces: { uplink: $up, bridge: $br, docker: $dk } }' >"$LAB_DIR/nodes/node$i.json"
}

# inventory_record_pods FILE COMMAND: write the records (entries of pods[]) of the pods on
# stdin, one line each as create_pod prints it, to FILE. A line is TSV (every value is
# [a-z0-9./-]): NAMESPACE NAME UID NODE IP NETNS VETH SANDBOX_ID, then CONTAINER ID CGROUP
# CGROUP_ID PID for each container; every container runs COMMAND. One jq for many pods: jq
# 1.6 takes some 50 ms to start.
inventory_record_pods() {
  jq -nR --arg cmd "$2" '
    inputs | split("\t") as $f
    | { namespace: $f[0], name: $f[1], uid: $f[2], node: $f[3], ip: $f[4], netns: $f[5], veth: $f[6],
        sandbox_id: $f[7],
        containers: [ $f[8:] as $c | range(0; $c | length; 5)
                      | { name: $c[.], id: $c[. + 1], cgroup: $c[. + 2], cgroup_id: ($c[. + 3] | tonumber),
                          pid: ($c[. + 4] | tonumber), command: $cmd } ] }' >"$1"
}

# inventory_record_service FILE NAMESPACE NAME CLUSTER_IP PROTOCOL PORT TARGET_PORT PORT_NAME SVC_CHAIN:
# a Service's record (an entry of services[], plus "servers": [] for the pids of its echo
# servers, which the inventory leaves out) from its backends on stdin, one TSV line each:
# POD IP NODE SEP_CHAIN (lab_services.sh).
inventory_record_service() {
  jq -nR --arg ns "$2" --arg name "$3" --arg ip "$4" --arg proto "$5" --argjson port "$6" \
    --argjson tport "$7" --arg pname "$8" --arg chain "$9" '
    { namespace: $ns, name: $name, cluster_ip: $ip, protocol: $proto, port: $port, target_port: $tport,
      port_name: $pname, svc_chain: $chain,
      backends: [ inputs | select(length > 0) | split("\t")
                  | { pod: .[0], ip: .[1], node: .[2], sep_chain: .[3] } ],
      servers: [] }' >"$1"
}

# inventory_add_container FILE NAME ID CGROUP CGROUP_ID PID COMMAND NETNS [IP]: append a
# container to the pod record in FILE, with the network namespace (and IP) it really runs
# in: add-pod's broken container, which does not share the pod's.
inventory_add_container() {
  local rec=$1
  jq --arg n "$2" --arg id "$3" --arg cg "$4" --argjson cgid "$5" --argjson pid "$6" --arg cmd "$7" \
    --arg netns "$8" --arg ip "${9:-}" '
    .containers += [ { name: $n, id: $id, cgroup: $cg, cgroup_id: $cgid, pid: $pid, command: $cmd,
                       netns: $netns } + (if $ip == "" then {} else { ip: $ip } end) ]' "$rec" >"$rec.tmp"
  mv -f "$rec.tmp" "$rec"
}

# inventory_write: assemble <data dir>/inventory.json from the records (nodes by number,
# pods by node and IP), atomically: a reader sees the old file or the new one.
inventory_write() {
  local tmp
  tmp=$(inventory_file).tmp
  jq -n --slurpfile lab "$LAB_DIR/lab.json" \
    --slurpfile nodes <(cat "$LAB_DIR"/nodes/*.json) \
    --slurpfile pods <(cat "$LAB_DIR"/pods/*.json 2>/dev/null || true) \
    --slurpfile services <(cat "$LAB_DIR"/services/*.json 2>/dev/null || true) \
    --arg data_dir "$LAB_DIR" --arg cgroup_root "$LAB_CG" --arg underlay "$UNDERLAY_CIDR" \
    --arg gw_ns "$(gw_ns)" --arg gw_ip "$GW_IP" --arg gw_if "$GW_BRIDGE" '
    def nodenum: ltrimstr("node") | tonumber;
    ($nodes | sort_by(.name | nodenum)) as $n
    | { version: $lab[0].version, lab: $lab[0].lab, created: $lab[0].created,
        data_dir: $data_dir, cgroup_root: $cgroup_root,
        underlay: { cidr: $underlay },
        gateway: { name: "gateway", netns: $gw_ns, ip: $gw_ip, interface: $gw_if,
                   routes: [ $n[] | { dst: .pod_cidr, via: .underlay_ip } ] },
        nodes: $n,
        pods: ($pods | sort_by((.node | nodenum), (.ip | split(".") | map(tonumber)))),
        service_cidr: "'"$SERVICE_CIDR"'",
        services: [ $services | sort_by(.namespace, .name)[] | del(.servers) ] }' >"$tmp"
  mv -f "$tmp" "$(inventory_file)"
}
