# shellcheck shell=bash
# scripts/lib/lab_usage.sh — the help of scripts/lab and of each of its subcommands
# (usage_<subcommand>), sourced by scripts/lab.

usage_main() {
  cat <<'EOF'
Usage: scripts/lab COMMAND [OPTIONS]

A kubenet-style lab cluster in network namespaces (see docs/lab.md): a gateway namespace
(the cloud router, 10.0.0.1 on the underlay 10.0.0.0/24), N nodes with a cbr0 bridge and pod
CIDR 10.10.(128+i).0/24 set up by the CNI bridge/host-local plugins, and pods whose
containers are real processes in their own cgroups. Run as root.

Commands:
  up         build a lab            (--nodes N --pods-per-node M --containers K --command CMD)
  down       remove a lab, also a half-built one
  status     list nodes (with pod CIDR) and pods, like 'kubectl get po -o wide'
  exec       run a command in a container of a pod (its cgroup and namespaces)
  traffic    send a standard mix of ping, TCP and UDP between pods (same node, cross node)
  add-pod    add a pod to a running lab (--ip to take a given address), optionally broken
  del-pod    delete a pod from a running lab, releasing its IP
  service    add, delete or list Services (ClusterIP + kube-proxy's iptables rules on every node)
  inventory  print the path of the lab's inventory file (docs/inventory.md)
  kubeconfig print the path of the kubeconfig for the lab's Kubernetes API server
  apiserver  stop or start the lab's Kubernetes API server
  break      break the lab's network in a known way (gateway-route, firewall, veth-down, ...)
  heal       undo every fault 'break' made
  agents     start, stop or list one 'podpath agent' per node    (agents start|stop|status)

Common option:
  --name PREFIX   lab name: 1-8 of [a-z0-9], starting with a letter (default: pp);
                  namespaces are PREFIX-gw, PREFIX-nodeI, PREFIX-pod-XXXXX

Run 'scripts/lab COMMAND --help' for a command's options.
EOF
}

usage_up() {
  cat <<EOF
Usage: scripts/lab up [--name PREFIX] [--nodes N] [--pods-per-node M] [--containers K]
                      [--command CMD]

Build a lab: gateway namespace PREFIX-gw, nodes PREFIX-node1..N, M pods per node (each pod
its own network namespace PREFIX-pod-XXXXX, wired to the node's cbr0 by the CNI bridge
plugin) and K containers per pod (processes in their own cgroup and mount/PID/UTS
namespaces, joined to the pod's network namespace). Remains of an unfinished lab with the
same name are removed first. Fails if the lab is already up.

  --nodes N           number of nodes, 1..$MAX_NODES (default 2); node i gets 10.10.(128+i).0/24
  --pods-per-node M   pods per node, 1..$MAX_PODS (default 2)
  --containers K      containers per pod, 1..$MAX_CONTAINERS (default 2)
  --command CMD       what every container runs, a sh command line (default: '$DEFAULT_COMMAND')
  --name PREFIX       lab name (default $DEFAULT_PREFIX)

Environment: PODPATH_LAB_CNI_PATH  directory of the CNI plugins (default /usr/lib/cni)
EOF
}

usage_down() {
  cat <<'EOF'
Usage: scripts/lab down [--name PREFIX]

Remove everything of the lab: container processes (cgroup.kill), CNI DEL for every pod,
the namespaces PREFIX-gw / PREFIX-nodeI / PREFIX-pod-*, the cgroup tree
<cgroup2>/podpath-lab.PREFIX and the data dir /run/podpath-lab/PREFIX. Works from those
names alone, so it also removes a half-built lab. Succeeds (and says so) if nothing is there.
EOF
}

usage_status() {
  cat <<'EOF'
Usage: scripts/lab status [--name PREFIX]

Show the lab's gateway, nodes (with pod CIDR) and pods (namespace, name, ready containers,
status, IP, node, host-side veth), like 'kubectl get nodes,po -o wide'.
Exits 1 if the lab is not up.
EOF
}

usage_exec() {
  cat <<'EOF'
Usage: scripts/lab exec [--name PREFIX] POD [-c CONTAINER] -- CMD [ARG...]

Run CMD inside a container of POD: in the container's cgroup and in its network, UTS,
mount and PID namespaces. POD is 'namespace/name' or 'name'. The default container is the
pod's first one. Standard input/output are passed through.

Exit status: CMD's exit status; 125 if the pod or container cannot be found or is not
running; 2 for a usage error.
EOF
}

usage_traffic() {
  cat <<EOF
Usage: scripts/lab traffic [--name PREFIX] [--duration S]

Send a standard, repeatable mix of traffic for about S seconds (default 10, max $MAX_DURATION):
for every node, its first pod to its second pod (same node) and its first pod to the last
pod of the next node (cross node), each pair with ping, TCP (port $TRAFFIC_TCP_PORT) and UDP
(port $TRAFFIC_UDP_PORT) at 2 messages per second. Echo servers (socat) run in the destination
pods' first container; clients run inside the source pod's containers (ping in the 1st, TCP
in the 2nd, UDP in the 3rd, wrapping around), so traffic is attributable by cgroup.
Every Service with endpoints ('service add') gets 2 connections per second from the first
pod that is not one of its backends, one message each: kube-proxy's DNAT picks a backend
per connection, so the paths show every backend.
Prints what was sent and exits 1 if any message went unanswered. Everything it started is
stopped on exit or interrupt.
EOF
}

usage_add_pod() {
  cat <<EOF
Usage: scripts/lab add-pod [--name PREFIX] [--node N] [--pod [NAMESPACE/]NAME] [--containers K]
                           [--ip IP] [--command CMD] [--broken-container hostnet|otherns]

Add one pod to a running lab, built like the pods of 'up' (its own network namespace, CNI
ADD on the node's cbr0, K containers in their own cgroups), and update the inventory
(atomically). 'down' removes it with the rest of the lab. Prints the new pod's
namespace/name and IP on the last line.

  --node N            node to run the pod on (default 1)
  --pod NAME          pod name, or namespace/name (default: default/demo-<hash>-<suffix>)
  --containers K      containers sharing the pod's network, 1..$MAX_CONTAINERS (default 2)
  --ip IP             the pod's address, from the node's pod CIDR (host-local's IP= argument);
                      fails if it is taken. Default: host-local's next free address
                      (round-robin, so a released IP comes back only after the others)
  --command CMD       what every container runs (default: '$DEFAULT_COMMAND')
  --broken-container hostnet
                      add one more container, 'debug-hostnet', that runs in the node's network
                      namespace instead of the pod's (like a sidecar with hostNetwork)
  --broken-container otherns
                      add one more container, 'debug-otherns', in a network namespace of its
                      own with another IP from the node's pod CIDR (its own CNI ADD): it does
                      not share the pod IP

The broken container lives in the pod's cgroup, so it is listed as one of the pod's
containers; 'podpath shared-ip' shows the FAIL it causes. Fails if the pod name is taken.
EOF
}

usage_del_pod() {
  cat <<'EOF'
Usage: scripts/lab del-pod [--name PREFIX] POD

Delete POD (namespace/name, or a name one pod has) from a running lab, as the kubelet would:
its containers are stopped, CNI DEL releases its IP (the next 'add-pod --ip IP' on the
node can take it), its network namespace is deleted and the inventory rewritten. The lab's
API server reports it DELETED to watchers ('kubectl get po -w').
EOF
}

usage_service() {
  cat <<EOF
Usage: scripts/lab service [--name PREFIX] add SERVICE --port P --target-port T --backends POD[,POD...]
                          [--protocol tcp|udp] [--no-serve]
       scripts/lab service [--name PREFIX] del SERVICE
       scripts/lab service [--name PREFIX] list

A Kubernetes Service of type ClusterIP (docs/services.md). SERVICE is namespace/name or name
(namespace 'default'). 'add' gives it the lowest free ClusterIP from $SERVICE_CIDR (from
$SERVICE_IP_FIRST on) and writes, in every node namespace, the rules kube-proxy's iptables mode
writes: nat PREROUTING and OUTPUT -> KUBE-SERVICES -> KUBE-SVC-<hash> -> KUBE-SEP-<hash> per
backend (statistic --mode random --probability between them) -> DNAT to POD_IP:T, KUBE-MARK-MASQ
for traffic from outside $CLUSTER_CIDR and for hairpin, and a filter REJECT (ICMP port
unreachable) while the Service has no endpoints. The lab's inventory and API server list the
Service and its EndpointSlice. Prints 'namespace/name CLUSTER_IP:PORT' on the last line.

  --port P           the Service's port (1-65535)
  --target-port T    the backends' port (default: P)
  --backends PODS    comma-separated pods (name or namespace/name); empty: no endpoints
  --protocol PROTO   tcp (default) or udp
  --no-serve         do not start an echo server (socat) on T in each backend's first container

'del' removes the Service, its rules and its echo servers; 'down' removes everything anyway.
EOF
}

usage_kubeconfig() {
  cat <<'EOF'
Usage: scripts/lab kubeconfig [--name PREFIX] [--in-cluster]

Print the path of a kubeconfig for the lab's Kubernetes API server (CA and bearer token
made by the lab):
  (default)     for the root namespace: https://127.0.0.1:PORT, e.g.
                  kubectl --kubeconfig $(scripts/lab kubeconfig) get po -o wide
                  podpath pods --kubeconfig $(scripts/lab kubeconfig)
  --in-cluster  for clients inside the lab's namespaces (a node's, a pod's):
                https://10.0.0.1:6443, served in the gateway namespace
Exits 1 if the lab is not up.
EOF
}

usage_apiserver() {
  cat <<'EOF'
Usage: scripts/lab apiserver [--name PREFIX] start|stop|status

The lab's Kubernetes API server (started by 'up', removed by 'down'). 'stop' ends it and its
forwarder but keeps its CA, token, port and state, so that 'start' brings the same server
back: watchers see it go away and return (what 'podpath trace' must survive). 'status'
exits 1 when it is stopped.
EOF
}

usage_inventory() {
  cat <<'EOF'
Usage: scripts/lab inventory [--name PREFIX]

Print the path of the lab's inventory file (/run/podpath-lab/PREFIX/inventory.json, format
in docs/inventory.md). Exits 1 (printing nothing on stdout) if the lab is not up.
EOF
}

usage_break() {
  cat <<EOF
Usage: scripts/lab break [--name PREFIX] KIND ARGS...

Break the lab's network in one well-known way, so that 'podpath check' can be seen finding
it; 'scripts/lab heal' undoes it exactly. NODE is a node name (node2) or number (2); POD is
'namespace/name' or 'name'. Several faults may be active at once (one per kind and target).

Kinds:
  gateway-route NODE        the gateway loses its route to NODE's pod CIDR
                            (packets from other nodes die at the gateway: no route)
  firewall NODE [POD]       an iptables rule in NODE's FORWARD chain drops what is routed
                            to POD (default: to every pod of NODE)
  veth-down POD             POD's host-side veth is set down on its node
  wrong-route NODE [VIA]    the gateway routes NODE's pod CIDR to node VIA instead
                            (default: the first other node): packets loop until their TTL ends
  arp POD                   POD stops answering ARP (arp_ignore=8 on its eth0), and its
                            node forgets POD's MAC: the node gets no ARP reply for it
  port-closed POD PORT [tcp|udp]
                            POD rejects connections to PORT like a closed port: TCP RST,
                            UDP ICMP port unreachable (an iptables REJECT in POD; default both)
  service-no-endpoints SERVICE
                            SERVICE loses every endpoint: kube-proxy's REJECT answers its
                            ClusterIP with ICMP port unreachable on every node
  backend-node-down NODE    NODE's eth0 goes down while its pods remain endpoints of their
                            Services: connections sent to them time out
  mtu NODE [MTU]            NODE's eth0 MTU is lowered (default $FAULT_DEFAULT_MTU) while the gateway
                            keeps 1500: larger frames to NODE vanish without an ICMP error
                            (an MTU blackhole for DF packets; small packets pass)

Faults are recorded in /run/podpath-lab/PREFIX/faults. Exits 1 if the lab is not up or the
same fault is already active.
EOF
}

usage_heal() {
  cat <<'EOF'
Usage: scripts/lab heal [--name PREFIX]

Undo every fault made by 'scripts/lab break', newest first, exactly as recorded in
/run/podpath-lab/PREFIX/faults. Says so and succeeds when nothing is broken.
EOF
}

usage_agents() {
  cat <<EOF
Usage: scripts/lab agents [--name PREFIX] start [--podpath PATH] [-- AGENT_OPTION...]
       scripts/lab agents [--name PREFIX] stop|status

Run one 'podpath agent' per lab node, inside the node's network namespace (like a DaemonSet
pod with hostNetwork on a cluster; docs/agent.md). Each agent serves:
  https://<node underlay IP>:$AGENT_PORT   the API, TLS with the lab's CA, bearer token required
  unix:/run/podpath-lab/PREFIX/agents/NODE.sock
                                   the API on a unix socket (mode 0600): how clients in the root
                                   namespace reach the agents (the lab adds no route there)
  http://<node underlay IP>:$AGENT_METRICS_PORT   /metrics, /healthz, /readyz
The CA, each agent's certificate and the token are made once per lab in
/run/podpath-lab/PREFIX/pki (ca.crt, agent-NODE.crt, agent-token); pid files, ready files and
logs are in /run/podpath-lab/PREFIX/agents. 'scripts/lab down' stops the agents too.

  start     start the agents that do not run yet and wait until every one is ready
            --podpath PATH   the podpath binary (default: \$PODPATH_BIN, else build/userspace/[cli/]podpath)
            -- OPTION...     more options for every agent, e.g. -- --interval 0.5
  stop      SIGTERM every agent (they detach and exit) and wait
  status    each node's agent: ready, starting, not-ready or stopped; exits 1 unless all are ready
EOF
}

