#!/usr/bin/env python3
"""A Kubernetes-API-compatible HTTPS server for the podpath lab: a fixture, not product code.

It serves the lab's nodes and pods, read from a lab inventory file (docs/inventory.md), as
real v1 objects (and, while 'scripts/lab agents start' has agents ready, each as a pod of the
podpath DaemonSet: namespace podpath, app.kubernetes.io/name=podpath, hostNetwork), and follows the file: every change becomes ADDED/MODIFIED/DELETED watch
events with increasing resourceVersions. A real kubectl is the judge of compatibility:

    kubectl --kubeconfig K get po -o wide      kubectl --kubeconfig K get nodes -o wide
    kubectl --kubeconfig K get po -w

What it serves (read-only, bearer-token auth, TLS):
  /version /api /apis /api/v1                         discovery, as kubectl needs it
  /api/v1/pods  /api/v1/namespaces/NS/pods[/NAME]     List (limit/continue), Get, Watch
  /api/v1/nodes[/NAME]  /api/v1/namespaces[/NAME]
  /api/v1/services  /api/v1/namespaces/NS/services[/NAME]      (scripts/lab service add)
  /apis/discovery.k8s.io/v1/[namespaces/NS/]endpointslices[/NAME]  their EndpointSlices
  Watch: chunked NDJSON, bookmarks (allowWatchBookmarks), timeoutSeconds; a resourceVersion
  older than the kept history gets an ERROR event with code 410 (or HTTP 410 with
  --expired-as status). Accept: ...;as=Table gets a meta.k8s.io/v1 Table (kubectl's columns).
  labelSelector (k=v, k!=v, k, !k) and fieldSelector (metadata.name, metadata.namespace,
  spec.nodeName, status.phase) filter lists and watches.

Faults, for tests (POST with the bearer token, or 'lab_apiserver.py fault'):
  /_fixture/mute     open watches stop receiving events (history still records them)
  /_fixture/compact  history is dropped: open watches get ERROR 410 and end, and watches
                     from an older resourceVersion get 410

Subcommands:
  serve  --inventory FILE --listen ADDR:PORT --tls-dir DIR [--unix PATH] [--token-file F]
         [--kubeconfig-out F] [--ready-file F] ...     (the default; see --help)
  certs  --tls-dir DIR [--san IP|NAME]...               make CA and server certificate
  fault  --kubeconfig K (mute|compact)                  inject a fault into a running server
"""

import argparse
import base64
import collections
import datetime
import ipaddress
import json
import os
import re
import secrets
import signal
import socket
import socketserver
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

SERVER_VERSION_DEFAULT = "1.32"
BOOKMARK_INTERVAL_DEFAULT = 10.0
HISTORY_DEFAULT = 1000
WATCH_TIMEOUT_DEFAULT = 1800
UID_NAMESPACE = uuid.UUID("4c0d7b1e-9f59-4a38-8f0d-70647061746b")  # fixed: uids are stable per lab


def log(msg):
    print(f"lab-apiserver: {msg}", file=sys.stderr, flush=True)


def now_rfc3339(t=None):
    t = time.time() if t is None else t
    return datetime.datetime.fromtimestamp(int(t), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text):
    try:
        return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()
    except (TypeError, ValueError):
        return None


def human_duration(seconds):
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration, as kubectl's AGE column shows it."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 60 * 2:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 60 * 3:
        return f"{m}m"
    h = m // 60
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    if h < 24 * 8:
        return f"{h // 24}d{h % 24}h" if h % 24 else f"{h // 24}d"
    if h < 24 * 365 * 2:
        return f"{h // 24}d"
    if h < 24 * 365 * 8:
        y = h // (24 * 365)
        d = (h // 24) % 365
        return f"{y}y{d}d" if d else f"{y}y"
    return f"{h // (24 * 365)}y"


def app_label(name):
    """web-7d4b9f6c8d-x2k4q -> web (Deployment pods), db-0 -> db (StatefulSet pods)."""
    m = re.match(r"^(.+)-[a-z0-9]{5,10}-[a-z0-9]{5}$", name)
    if m:
        return m.group(1)
    m = re.match(r"^(.+)-[0-9]+$", name)
    return m.group(1) if m else name


# ------------------------------------------------------------------------------ objects


def node_uid(lab, name):
    return str(uuid.uuid5(UID_NAMESPACE, f"{lab}/node/{name}"))


def namespace_uid(name):
    return str(uuid.uuid5(UID_NAMESPACE, f"namespace/{name}"))


def build_node(lab, node, created, kernel, version):
    name = node["name"]
    cidr = node["pod_cidr"]
    return {
        "kind": "Node",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "uid": node_uid(lab, name),
            "creationTimestamp": created,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "podpath.dev/lab": lab,
            },
        },
        "spec": {"podCIDR": cidr, "podCIDRs": [cidr]},
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": node["underlay_ip"]},
                {"type": "Hostname", "address": name},
            ],
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "podpath lab node (network namespace " + node.get("netns", "") + ")",
                    "lastHeartbeatTime": created,
                    "lastTransitionTime": created,
                }
            ],
            "nodeInfo": {
                "kubeletVersion": f"v{version}.0-podpath-lab",
                "kubeProxyVersion": "",
                "containerRuntimeVersion": "containerd://podpath-lab",
                "osImage": "podpath lab (network namespace)",
                "kernelVersion": kernel,
                "operatingSystem": "linux",
                "architecture": "amd64",
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
            },
        },
    }


def pod_uid(lab, pod):
    if pod.get("uid"):
        return pod["uid"]
    key = f"{lab}/pod/{pod['namespace']}/{pod['name']}/{pod.get('sandbox_id', '')}"
    return str(uuid.uuid5(UID_NAMESPACE, key))


def build_pod(lab, pod, host_ip, created):
    containers = pod.get("containers", [])
    spec_containers = []
    statuses = []
    for c in containers:
        image = f"podpath-lab/{c['name']}:latest"
        spec_containers.append(
            {"name": c["name"], "image": image, "command": ["/bin/sh", "-c", c.get("command", "")]}
        )
        statuses.append(
            {
                "name": c["name"],
                "ready": True,
                "started": True,
                "restartCount": 0,
                "image": image,
                "imageID": "",
                "containerID": "containerd://" + c["id"],
                "state": {"running": {"startedAt": created}},
            }
        )
    ready = "True"
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": pod["name"],
            "namespace": pod["namespace"],
            "uid": pod_uid(lab, pod),
            "creationTimestamp": created,
            "labels": {"app": app_label(pod["name"])},
            "annotations": {
                "podpath.dev/netns": pod.get("netns", ""),
                "podpath.dev/veth": pod.get("veth", ""),
            },
        },
        "spec": {
            "nodeName": pod["node"],
            "containers": spec_containers,
            "restartPolicy": "Always",
            "serviceAccountName": "default",
            "schedulerName": "default-scheduler",
        },
        "status": {
            "phase": "Running",
            "conditions": [
                {"type": t, "status": ready, "lastTransitionTime": created}
                for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
            ],
            "hostIP": host_ip,
            "hostIPs": [{"ip": host_ip}] if host_ip else [],
            "podIP": pod["ip"],
            "podIPs": [{"ip": pod["ip"]}],
            "startTime": created,
            "containerStatuses": statuses,
            "qosClass": "BestEffort",
        },
    }


def agent_nodes(inventory_path):
    """The nodes whose podpath agent 'scripts/lab agents start' made ready: <lab dir>/agents/NODE.ready."""
    agents = os.path.join(os.path.dirname(os.path.abspath(inventory_path)), "agents")
    try:
        return sorted(f[: -len(".ready")] for f in os.listdir(agents) if f.endswith(".ready"))
    except OSError:
        return []


def agent_pod_uid(lab, node):
    return str(uuid.uuid5(UID_NAMESPACE, f"{lab}/agent/{node}"))


def build_agent_pod(lab, node, host_ip, created):
    """A pod of the podpath DaemonSet (deploy/) for a lab node's agent: hostNetwork, so its
    address is the node's and clients reach the agent at https://HOST_IP:9990 (docs/cluster.md)."""
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": f"podpath-{node}",
            "namespace": "podpath",
            "uid": agent_pod_uid(lab, node),
            "creationTimestamp": created,
            "labels": {"app.kubernetes.io/name": "podpath"},
        },
        "spec": {
            "nodeName": node,
            "hostNetwork": True,
            "containers": [{"name": "agent", "image": "podpath:lab", "command": ["podpath", "agent"]}],
            "restartPolicy": "Always",
            "serviceAccountName": "podpath",
            "schedulerName": "default-scheduler",
        },
        "status": {
            "phase": "Running",
            "conditions": [
                {"type": t, "status": "True", "lastTransitionTime": created}
                for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
            ],
            "hostIP": host_ip,
            "hostIPs": [{"ip": host_ip}] if host_ip else [],
            "podIP": host_ip,
            "podIPs": [{"ip": host_ip}] if host_ip else [],
            "startTime": created,
            "containerStatuses": [],
            "qosClass": "Burstable",
        },
    }


def service_uid(lab, svc):
    return str(uuid.uuid5(UID_NAMESPACE, f"{lab}/service/{svc['namespace']}/{svc['name']}"))


def build_service(lab, svc, created):
    """A ClusterIP Service (one TCP or UDP port) from its inventory record."""
    return {
        "kind": "Service",
        "apiVersion": "v1",
        "metadata": {
            "name": svc["name"],
            "namespace": svc["namespace"],
            "uid": service_uid(lab, svc),
            "creationTimestamp": created,
        },
        "spec": {
            "type": "ClusterIP",
            "clusterIP": svc["cluster_ip"],
            "clusterIPs": [svc["cluster_ip"]],
            "ipFamilies": ["IPv4"],
            "ports": [{"name": svc.get("port_name", "http"), "protocol": svc["protocol"], "port": svc["port"],
                       "targetPort": svc["target_port"]}],
            "sessionAffinity": "None",
        },
        "status": {"loadBalancer": {}},
    }


def build_endpointslice(lab, svc, created, pods):
    """The Service's EndpointSlice: one endpoint per backend, with its pod and node."""
    endpoints = []
    for b in svc.get("backends", []):
        ns, _, name = b.get("pod", "").partition("/")
        ep = {"addresses": [b["ip"]], "conditions": {"ready": True, "serving": True, "terminating": False},
              "nodeName": b.get("node", "")}
        pod = pods.get((ns, name))
        if pod is not None:
            ep["targetRef"] = {"kind": "Pod", "namespace": ns, "name": name, "uid": pod_uid(lab, pod)}
        endpoints.append(ep)
    return {
        "kind": "EndpointSlice",
        "apiVersion": "discovery.k8s.io/v1",
        "metadata": {
            "name": f"{svc['name']}-{service_uid(lab, svc)[:5]}",
            "namespace": svc["namespace"],
            "uid": str(uuid.uuid5(UID_NAMESPACE, f"{lab}/endpointslice/{svc['namespace']}/{svc['name']}")),
            "creationTimestamp": created,
            "labels": {"kubernetes.io/service-name": svc["name"],
                       "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"},
            "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": svc["name"],
                                 "uid": service_uid(lab, svc), "controller": True, "blockOwnerDeletion": True}],
        },
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": [{"name": svc.get("port_name", "http"), "protocol": svc["protocol"], "port": svc["target_port"]}],
    }


def build_namespace(name, created):
    return {
        "kind": "Namespace",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "uid": namespace_uid(name),
            "creationTimestamp": created,
            "labels": {"kubernetes.io/metadata.name": name},
        },
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


# ------------------------------------------------------------------------------- tables

POD_COLUMNS = [
    ("Name", "string", "name", 0, "Name must be unique within a namespace."),
    ("Ready", "string", "", 0, "The aggregate readiness state of this pod for accepting traffic."),
    ("Status", "string", "", 0, "The aggregate status of the containers in this pod."),
    ("Restarts", "string", "", 0, "The number of times the containers in this pod have been restarted."),
    ("Age", "string", "", 0, "CreationTimestamp is a timestamp representing the server time when this object was created."),
    ("IP", "string", "", 1, "IP address allocated to the pod."),
    ("Node", "string", "", 1, "Name of the node this pod is scheduled on."),
    ("Nominated Node", "string", "", 1, "Name of the node this pod is nominated to run on."),
    ("Readiness Gates", "string", "", 1, "The readiness gates of this pod."),
]
NODE_COLUMNS = [
    ("Name", "string", "name", 0, "Name must be unique within a namespace."),
    ("Status", "string", "", 0, "The status of the node"),
    ("Roles", "string", "", 0, "The roles of the node"),
    ("Age", "string", "", 0, "CreationTimestamp is a timestamp representing the server time when this object was created."),
    ("Version", "string", "", 0, "Kubelet Version reported by the node."),
    ("Internal-IP", "string", "", 1, "List of internal IPs for the node."),
    ("External-IP", "string", "", 1, "List of external IPs for the node."),
    ("OS-Image", "string", "", 1, "OS image reported by the node."),
    ("Kernel-Version", "string", "", 1, "Kernel version reported by the node."),
    ("Container-Runtime", "string", "", 1, "Container runtime and version reported by the node."),
]
NAMESPACE_COLUMNS = [
    ("Name", "string", "name", 0, "Name must be unique within a namespace."),
    ("Status", "string", "", 0, "The status of the namespace"),
    ("Age", "string", "", 0, "CreationTimestamp is a timestamp representing the server time when this object was created."),
]
SERVICE_COLUMNS = [
    ("Name", "string", "name", 0, "Name must be unique within a namespace."),
    ("Type", "string", "", 0, "The type of the service."),
    ("Cluster-IP", "string", "", 0, "The cluster IP of the service."),
    ("External-IP", "string", "", 0, "The external IP of the service."),
    ("Port(s)", "string", "", 0, "The ports of the service."),
    ("Age", "string", "", 0, "CreationTimestamp is a timestamp representing the server time when this object was created."),
]
ENDPOINTSLICE_COLUMNS = [
    ("Name", "string", "name", 0, "Name must be unique within a namespace."),
    ("AddressType", "string", "", 0, "The type of address carried by this EndpointSlice."),
    ("Ports", "string", "", 0, "The ports of the endpoints."),
    ("Endpoints", "string", "", 0, "The addresses of the endpoints."),
    ("Age", "string", "", 0, "CreationTimestamp is a timestamp representing the server time when this object was created."),
]
COLUMNS = {"pods": POD_COLUMNS, "nodes": NODE_COLUMNS, "namespaces": NAMESPACE_COLUMNS,
           "services": SERVICE_COLUMNS, "endpointslices": ENDPOINTSLICE_COLUMNS}
KINDS = {"pods": "Pod", "nodes": "Node", "namespaces": "Namespace", "services": "Service",
         "endpointslices": "EndpointSlice"}
API_VERSIONS = {"endpointslices": "discovery.k8s.io/v1"}  # else v1


def column_definitions(kind):
    return [
        {"name": n, "type": t, "format": f, "description": d, "priority": p} for (n, t, f, p, d) in COLUMNS[kind]
    ]


def age(obj):
    created = parse_rfc3339(obj["metadata"].get("creationTimestamp"))
    return "<unknown>" if created is None else human_duration(time.time() - created)


def table_cells(kind, obj):
    if kind == "pods":
        statuses = obj["status"].get("containerStatuses", [])
        ready = sum(1 for s in statuses if s.get("ready"))
        restarts = sum(s.get("restartCount", 0) for s in statuses)
        return [
            obj["metadata"]["name"],
            f"{ready}/{len(obj['spec']['containers'])}",
            "Terminating" if obj["metadata"].get("deletionTimestamp") else obj["status"].get("phase", ""),
            str(restarts),
            age(obj),
            obj["status"].get("podIP") or "<none>",
            obj["spec"].get("nodeName") or "<none>",
            "<none>",
            "<none>",
        ]
    if kind == "nodes":
        addresses = obj["status"].get("addresses", [])
        internal = [a["address"] for a in addresses if a["type"] == "InternalIP"]
        external = [a["address"] for a in addresses if a["type"] == "ExternalIP"]
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in obj["status"].get("conditions", []))
        info = obj["status"].get("nodeInfo", {})
        return [
            obj["metadata"]["name"],
            "Ready" if ready else "NotReady",
            "<none>",
            age(obj),
            info.get("kubeletVersion", ""),
            ",".join(internal) or "<none>",
            ",".join(external) or "<none>",
            info.get("osImage", ""),
            info.get("kernelVersion", ""),
            info.get("containerRuntimeVersion", ""),
        ]
    if kind == "services":
        ports = ",".join(f"{p['port']}/{p['protocol']}" for p in obj["spec"].get("ports", []))
        return [obj["metadata"]["name"], obj["spec"]["type"], obj["spec"].get("clusterIP", "<none>"), "<none>",
                ports or "<none>", age(obj)]
    if kind == "endpointslices":
        ports = ",".join(str(p["port"]) for p in obj.get("ports", []))
        addrs = [a for e in obj.get("endpoints", []) for a in e["addresses"]]
        return [obj["metadata"]["name"], obj["addressType"], ports or "<unset>", ",".join(addrs) or "<unset>",
                age(obj)]
    return [obj["metadata"]["name"], obj["status"].get("phase", ""), age(obj)]


def table_row(kind, obj, include):
    row = {"cells": table_cells(kind, obj)}
    if include == "Object":
        row["object"] = obj
    elif include != "None":
        row["object"] = {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj["metadata"],
        }
    return row


def table(kind, objs, rv, include, cont=None):
    meta = {"resourceVersion": rv}
    if cont:
        meta["continue"] = cont
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": column_definitions(kind),
        "rows": [table_row(kind, o, include) for o in objs],
    }


# ---------------------------------------------------------------------------- selectors


def parse_label_selector(text):
    """k=v, k==v, k!=v, k, !k joined by commas; raises ValueError otherwise."""
    terms = []
    for raw in filter(None, (t.strip() for t in (text or "").split(","))):
        m = re.fullmatch(r"([A-Za-z0-9./_-]+)\s*(==|=|!=)\s*([A-Za-z0-9._-]*)", raw)
        if m:
            terms.append((m.group(1), "!=" if m.group(2) == "!=" else "=", m.group(3)))
        elif re.fullmatch(r"![A-Za-z0-9./_-]+", raw):
            terms.append((raw[1:], "!", None))
        elif re.fullmatch(r"[A-Za-z0-9./_-]+", raw):
            terms.append((raw, "exists", None))
        else:
            raise ValueError(f"unable to parse requirement: {raw!r}")
    return terms


def label_match(terms, obj):
    labels = obj["metadata"].get("labels", {})
    for key, op, value in terms:
        if op == "=" and labels.get(key) != value:
            return False
        if op == "!=" and labels.get(key) == value:
            return False
        if op == "exists" and key not in labels:
            return False
        if op == "!" and key in labels:
            return False
    return True


FIELDS = {
    "metadata.name": lambda o: o["metadata"].get("name", ""),
    "metadata.namespace": lambda o: o["metadata"].get("namespace", ""),
    "spec.nodeName": lambda o: o.get("spec", {}).get("nodeName", ""),
    "status.phase": lambda o: o.get("status", {}).get("phase", ""),
}


def parse_field_selector(text):
    terms = []
    for raw in filter(None, (t.strip() for t in (text or "").split(","))):
        m = re.fullmatch(r"([A-Za-z.]+)\s*(==|=|!=)\s*(.*)", raw)
        if not m or m.group(1) not in FIELDS:
            raise ValueError(f"field label not supported: {raw!r}")
        terms.append((FIELDS[m.group(1)], m.group(2) != "!=", m.group(3)))
    return terms


def field_match(terms, obj):
    return all((get(obj) == value) == equal for get, equal, value in terms)


# -------------------------------------------------------------------------------- store


class Expired(Exception):
    pass


class Store:
    """Objects by kind and uid, a resourceVersion counter and the event history."""

    def __init__(self, history, state_file):
        self.cond = threading.Condition()
        self.rv = 0
        self.objects = {kind: {} for kind in KINDS}
        self.history = collections.deque(maxlen=history)
        self.oldest = 0  # watches from a resourceVersion below this are too old
        self.compactions = 0
        self.muted = 0  # watches opened before this generation receive nothing
        self.generation = 0
        self.stopping = False
        self.state_file = state_file
        self.created = {}  # uid -> creationTimestamp, kept across restarts
        if state_file and os.path.exists(state_file):
            try:
                with open(state_file) as f:
                    state = json.load(f)
                self.rv = int(state.get("resourceVersion", 0))
                self.created = dict(state.get("created", {}))
                for kind, objs in state.get("objects", {}).items():
                    if kind in self.objects:
                        self.objects[kind] = dict(objs)
            except (OSError, ValueError) as e:
                log(f"ignoring unreadable state file {state_file}: {e}")
        # A restarted server has its objects back but no history: watches must start at or
        # after this resourceVersion.
        self.oldest = self.rv

    def save_state(self):
        if not self.state_file:
            return
        tmp = self.state_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"resourceVersion": self.rv, "created": self.created, "objects": self.objects}, f)
        os.replace(tmp, self.state_file)

    @staticmethod
    def comparable(obj):
        clean = json.loads(json.dumps(obj))
        clean["metadata"].pop("resourceVersion", None)
        return clean

    def sync(self, desired):
        """desired: kind -> {uid: object without resourceVersion}. Emits the differences."""
        with self.cond:
            changed = False
            for kind, objs in desired.items():
                current = self.objects[kind]
                for uid in sorted(set(current) - set(objs)):
                    self.rv += 1
                    gone = json.loads(json.dumps(current.pop(uid)))
                    gone["metadata"]["resourceVersion"] = str(self.rv)
                    gone["metadata"]["deletionTimestamp"] = now_rfc3339()  # as a real DELETED object has
                    gone["metadata"]["deletionGracePeriodSeconds"] = 0
                    self.history.append((self.rv, "DELETED", kind, gone))
                    self.created.pop(uid, None)
                    changed = True
                for uid, obj in sorted(objs.items(), key=lambda kv: (kv[1]["metadata"].get("namespace", ""), kv[1]["metadata"]["name"])):
                    old = current.get(uid)
                    if old is not None and self.comparable(old) == obj:
                        continue
                    self.rv += 1
                    obj["metadata"]["resourceVersion"] = str(self.rv)
                    current[uid] = obj
                    self.history.append((self.rv, "ADDED" if old is None else "MODIFIED", kind, obj))
                    changed = True
            if changed:
                self.save_state()
                self.cond.notify_all()
            return changed

    def compact(self):
        with self.cond:
            self.rv += 1  # nothing a client holds is current any more
            self.history.clear()
            self.oldest = self.rv
            self.compactions += 1
            self.muted = 0
            self.save_state()
            self.cond.notify_all()

    def mute(self):
        with self.cond:
            self.generation += 1
            self.muted = self.generation
            self.cond.notify_all()

    def snapshot(self, kind):
        with self.cond:
            return self.rv, list(self.objects[kind].values())

    def events_since(self, rv):
        """Events after rv, or Expired when history no longer reaches back there."""
        if rv < self.oldest or (self.history and rv < self.history[0][0] - 1):
            raise Expired(f"too old resource version: {rv} ({self.oldest if not self.history else self.history[0][0] - 1})")
        return [e for e in self.history if e[0] > rv]


# ------------------------------------------------------------------------------ inventory


class InventoryFollower(threading.Thread):
    """Polls the inventory file's mtime and turns each new version into store changes."""

    def __init__(self, path, store, interval, version):
        super().__init__(daemon=True)
        self.version = version
        self.path = path
        self.store = store
        self.interval = interval
        self.seen = None
        self.error = None
        self.kernel = os.uname().release

    def stamp(self):
        try:
            st = os.stat(self.path)
            return (st.st_mtime_ns, st.st_size, st.st_ino, tuple(agent_nodes(self.path)))
        except OSError:
            return None

    def desired(self, inv):
        lab = inv.get("lab", "lab")
        default_created = inv.get("created") or now_rfc3339()
        created = self.store.created
        # Objects of a first start date from the lab's creation; later ones from when seen.
        first_start = self.store.rv == 0
        now = now_rfc3339()

        def stamp(uid):
            if uid not in created:
                created[uid] = default_created if first_start else now
            return created[uid]

        nodes, pods, namespaces = {}, {}, {}
        host_ips = {}
        for n in inv["nodes"]:
            uid = node_uid(lab, n["name"])
            nodes[uid] = build_node(lab, n, stamp(uid), self.kernel, self.version)
            host_ips[n["name"]] = n["underlay_ip"]
        for p in inv["pods"]:
            uid = pod_uid(lab, p)
            pods[uid] = build_pod(lab, p, host_ips.get(p["node"], ""), stamp(uid))
        # The lab's agents (scripts/lab agents start) as the podpath DaemonSet's pods.
        agent_ns = set()
        for node in agent_nodes(self.path):
            if node not in host_ips:
                continue
            uid = agent_pod_uid(lab, node)
            pods[uid] = build_agent_pod(lab, node, host_ips[node], stamp(uid))
            agent_ns.add("podpath")
        for name in sorted({"default", "kube-system"} | agent_ns | {p["namespace"] for p in inv["pods"]}):
            uid = namespace_uid(name)
            namespaces[uid] = build_namespace(name, stamp(uid))
        services, slices = {}, {}
        by_name = {(p["namespace"], p["name"]): p for p in inv["pods"]}
        for svc in inv.get("services", []):
            uid = service_uid(lab, svc)
            services[uid] = build_service(lab, svc, stamp(uid))
            eps = build_endpointslice(lab, svc, stamp(uid), by_name)
            slices[eps["metadata"]["uid"]] = eps
        return {"nodes": nodes, "pods": pods, "namespaces": namespaces, "services": services,
                "endpointslices": slices}

    def load(self):
        try:
            with open(self.path) as f:
                inv = json.load(f)
            if inv.get("version") != 1:
                raise ValueError(f"version is {inv.get('version')!r}; this server reads version 1")
            desired = self.desired(inv)
        except (OSError, ValueError, KeyError, TypeError) as e:
            msg = f"cannot read inventory {self.path}: {type(e).__name__}: {e}; keeping the last view"
            if msg != self.error:
                log(msg)
                self.error = msg
            return False
        self.error = None
        if self.store.sync(desired):
            counts = {k: len(v) for k, v in desired.items()}
            log(f"inventory {self.path}: {counts['nodes']} nodes, {counts['pods']} pods, resourceVersion {self.store.rv}")
        return True

    def poll_once(self):
        stamp = self.stamp()
        if stamp is not None and stamp != self.seen:
            if self.load():
                self.seen = stamp

    def run(self):
        while not self.store.stopping:
            self.poll_once()
            time.sleep(self.interval)


# --------------------------------------------------------------------------------- HTTP


def status_body(code, reason, message, details=None):
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return body


RESOURCES = [
    {"name": "namespaces", "singularName": "namespace", "namespaced": False, "kind": "Namespace",
     "verbs": ["get", "list", "watch"], "shortNames": ["ns"]},
    {"name": "nodes", "singularName": "node", "namespaced": False, "kind": "Node",
     "verbs": ["get", "list", "watch"], "shortNames": ["no"]},
    {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod",
     "verbs": ["get", "list", "watch"], "shortNames": ["po"], "categories": ["all"]},
    {"name": "services", "singularName": "service", "namespaced": True, "kind": "Service",
     "verbs": ["get", "list", "watch"], "shortNames": ["svc"], "categories": ["all"]},
]
DISCOVERY_RESOURCES = [
    {"name": "endpointslices", "singularName": "endpointslice", "namespaced": True, "kind": "EndpointSlice",
     "verbs": ["get", "list", "watch"]},
]
# With --manifest-kinds: the kinds of deploy/ in discovery only (never served), so that
# `kubectl create --dry-run=client -f deploy/manifests` can map them (tests/kube/deploy_test.sh).
MANIFEST_CORE_RESOURCES = [
    {"name": "serviceaccounts", "singularName": "serviceaccount", "namespaced": True, "kind": "ServiceAccount",
     "verbs": [], "shortNames": ["sa"]},
]
MANIFEST_GROUPS = {
    "apps": [{"name": "daemonsets", "singularName": "daemonset", "namespaced": True, "kind": "DaemonSet",
              "verbs": [], "shortNames": ["ds"]}],
    "rbac.authorization.k8s.io": [
        {"name": "clusterroles", "singularName": "clusterrole", "namespaced": False, "kind": "ClusterRole",
         "verbs": []},
        {"name": "clusterrolebindings", "singularName": "clusterrolebinding", "namespaced": False,
         "kind": "ClusterRoleBinding", "verbs": []}],
}


def api_group(name):
    gv = {"groupVersion": f"{name}/v1", "version": "v1"}
    return {"name": name, "versions": [gv], "preferredVersion": gv}


DISCOVERY_GROUP = {"name": "discovery.k8s.io",
                   "versions": [{"groupVersion": "discovery.k8s.io/v1", "version": "v1"}],
                   "preferredVersion": {"groupVersion": "discovery.k8s.io/v1", "version": "v1"}}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "podpath-lab-apiserver"
    sys_version = ""

    # Set on the class by serve().
    store = None
    token = None
    options = None

    def log_message(self, fmt, *args):
        if self.options.access_log:
            log(f"{self.address_string()} {fmt % args}")

    def address_string(self):
        # A unix-socket peer has no address (the forwarder in the gateway namespace).
        return self.client_address[0] if isinstance(self.client_address, tuple) else "unix"

    # -- responses
    def send_json(self, code, body, extra_headers=()):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        for k, v in extra_headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def send_status(self, code, reason, message, details=None):
        self.send_json(code, status_body(code, reason, message, details))

    def authorized(self):
        auth = self.headers.get("Authorization", "")
        if auth == f"Bearer {self.token}":
            return True
        self.send_status(401, "Unauthorized", "Unauthorized")
        return False

    # -- routing
    def do_GET(self):
        try:
            self.route_get()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass

    def do_POST(self):
        if not self.authorized():
            return
        path = urlsplit(self.path).path
        length = int(self.headers.get("Content-Length", "0") or 0)
        if length:
            self.rfile.read(length)
        if path == "/_fixture/mute":
            self.store.mute()
            log("fault: open watches muted")
            self.send_json(200, {"fault": "mute", "resourceVersion": str(self.store.rv)})
        elif path == "/_fixture/compact":
            self.store.compact()
            log(f"fault: history compacted at resourceVersion {self.store.rv}")
            self.send_json(200, {"fault": "compact", "resourceVersion": str(self.store.rv)})
        else:
            self.send_status(405, "MethodNotAllowed", "the podpath lab API server is read-only")

    do_PUT = do_PATCH = do_DELETE = do_POST

    def route_get(self):
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        parts = [p for p in url.path.split("/") if p]
        if url.path in ("/healthz", "/livez", "/readyz"):
            data = b"ok"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if not self.authorized():
            return
        if url.path == "/version":
            major, minor = self.options.server_version.split(".")[:2]
            return self.send_json(200, {
                "major": major, "minor": minor,
                "gitVersion": f"v{major}.{minor}.0-podpath-lab", "gitCommit": "", "gitTreeState": "clean",
                "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23", "compiler": "gc",
                "platform": "linux/amd64",
            })
        if url.path == "/api":
            host = self.server.server_address
            return self.send_json(200, {
                "kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": f"{host[0]}:{host[1]}"}],
            })
        extra = MANIFEST_GROUPS if self.options.manifest_kinds else {}
        if url.path == "/apis":
            groups = [DISCOVERY_GROUP] + [api_group(g) for g in extra]
            return self.send_json(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        for g, resources in extra.items():
            if url.path == f"/apis/{g}":
                return self.send_json(200, dict(api_group(g), kind="APIGroup", apiVersion="v1"))
            if url.path == f"/apis/{g}/v1":
                return self.send_json(200, {"kind": "APIResourceList", "apiVersion": "v1",
                                            "groupVersion": f"{g}/v1", "resources": resources})
        if url.path == "/apis/discovery.k8s.io":
            return self.send_json(200, dict(DISCOVERY_GROUP, kind="APIGroup", apiVersion="v1"))
        if url.path == "/apis/discovery.k8s.io/v1":
            return self.send_json(200, {"kind": "APIResourceList", "apiVersion": "v1",
                                        "groupVersion": "discovery.k8s.io/v1", "resources": DISCOVERY_RESOURCES})
        if url.path == "/api/v1":
            core = RESOURCES + (MANIFEST_CORE_RESOURCES if self.options.manifest_kinds else [])
            return self.send_json(200, {"kind": "APIResourceList", "groupVersion": "v1", "resources": core})
        if parts[:2] == ["api", "v1"]:
            rest, served = parts[2:], ("pods", "nodes", "namespaces", "services")
        elif parts[:3] == ["apis", "discovery.k8s.io", "v1"]:
            rest, served = parts[3:], ("endpointslices",)
        else:
            return self.send_status(404, "NotFound", "the server could not find the requested resource")
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] in ("pods", "services", "endpointslices"):
            namespace = rest[1]
            rest = rest[2:]
        if not rest or rest[0] not in served or len(rest) > 2:
            return self.send_status(404, "NotFound", "the server could not find the requested resource")
        kind = rest[0]
        name = rest[1] if len(rest) == 2 else None
        try:
            labels = parse_label_selector(query.get("labelSelector"))
            fields = parse_field_selector(query.get("fieldSelector"))
        except ValueError as e:
            return self.send_status(400, "BadRequest", str(e))

        def wanted(obj):
            if namespace is not None and obj["metadata"].get("namespace") != namespace:
                return False
            if name is not None and obj["metadata"]["name"] != name:
                return False
            return label_match(labels, obj) and field_match(fields, obj)

        as_table = "as=Table" in self.headers.get("Accept", "")
        if query.get("watch") in ("1", "true"):
            return self.watch(kind, wanted, query, as_table)
        if name is not None:
            rv, objs = self.store.snapshot(kind)
            found = [o for o in objs if wanted(o)]
            if not found:
                return self.send_status(404, "NotFound", f'{kind} "{name}" not found',
                                        {"name": name, "kind": kind})
            if as_table:
                return self.send_json(200, table(kind, found, rv, query.get("includeObject", "Metadata")))
            return self.send_json(200, found[0])
        return self.list(kind, wanted, query, as_table)

    def list(self, kind, wanted, query, as_table):
        rv, objs = self.store.snapshot(kind)
        objs = sorted((o for o in objs if wanted(o)),
                      key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
        start = 0
        cont = query.get("continue")
        if cont:
            try:
                token = json.loads(base64.urlsafe_b64decode(cont.encode()).decode())
                token_rv, start = int(token["rv"]), int(token["start"])
            except (ValueError, KeyError, TypeError):
                return self.send_status(400, "BadRequest", "invalid continue token")
            if token_rv != int(rv):
                return self.send_status(
                    410, "Expired",
                    "The provided continue parameter is too old to display a consistent list result. "
                    "You can start a new list without the continue parameter.")
        limit = int(query.get("limit") or 0)
        page = objs[start:start + limit] if limit > 0 else objs[start:]
        next_start = start + len(page)
        next_token = None
        if limit > 0 and next_start < len(objs):
            next_token = base64.urlsafe_b64encode(json.dumps({"rv": rv, "start": next_start}).encode()).decode()
        if as_table:
            return self.send_json(200, table(kind, page, str(rv), query.get("includeObject", "Metadata"), next_token))
        meta = {"resourceVersion": str(rv)}
        if next_token:
            meta["continue"] = next_token
            meta["remainingItemCount"] = len(objs) - next_start
        list_kind = KINDS[kind] + "List"
        items = []
        for o in page:
            item = dict(o)
            item.pop("kind", None)
            item.pop("apiVersion", None)
            items.append(item)
        self.send_json(200, {"kind": list_kind, "apiVersion": API_VERSIONS.get(kind, "v1"), "metadata": meta,
                             "items": items})

    # -- watch
    def chunk(self, data):
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def send_event(self, kind, etype, obj, as_table, include):
        if as_table and etype != "ERROR" and etype != "BOOKMARK":
            obj = table(kind, [obj], obj["metadata"]["resourceVersion"], include)
        self.chunk((json.dumps({"type": etype, "object": obj}) + "\n").encode())

    def watch(self, kind, wanted, query, as_table):
        store = self.store
        include = query.get("includeObject", "Metadata")
        bookmarks = query.get("allowWatchBookmarks") in ("1", "true")
        timeout = int(query.get("timeoutSeconds") or self.options.watch_timeout)
        deadline = time.monotonic() + timeout
        rv_text = query.get("resourceVersion", "")
        with store.cond:
            compactions = store.compactions
            generation = store.generation
            if rv_text in ("", "0"):
                # "Start at most recent": the current state as ADDED, then changes.
                pending = [(store.rv, "ADDED", kind, o) for o in store.objects[kind].values()]
                since = store.rv
            else:
                try:
                    since = int(rv_text)
                except ValueError:
                    return self.send_status(400, "BadRequest", f"invalid resourceVersion {rv_text!r}")
                try:
                    pending = store.events_since(min(since, store.rv))
                except Expired as e:
                    if self.options.expired_as == "status":
                        return self.send_status(410, "Expired", str(e))
                    pending = None
                    expired_message = str(e)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        if pending is None:
            self.send_event(kind, "ERROR", status_body(410, "Expired", expired_message), False, include)
            self.chunk(b"")
            return
        last_bookmark = time.monotonic()
        while True:
            for (rv, etype, ekind, obj) in pending:
                since = max(since, rv)
                if ekind == kind and wanted(obj):
                    self.send_event(kind, etype, obj, as_table, include)
            with store.cond:
                while True:
                    if store.stopping or time.monotonic() >= deadline:
                        self.chunk(b"")
                        return
                    if store.compactions != compactions:
                        err = status_body(410, "Expired", f"too old resource version: {since} ({store.oldest})")
                        self.send_event(kind, "ERROR", err, False, include)
                        self.chunk(b"")
                        return
                    muted = store.muted > generation
                    if not muted:
                        new = [e for e in store.history if e[0] > since]
                        if new:
                            pending = new
                            break
                    now = time.monotonic()
                    if bookmarks and not muted and now - last_bookmark >= self.options.bookmark_interval:
                        pending = []
                        mark_rv = store.rv  # taken under the lock: every event up to it was sent
                        break
                    wait = min(deadline - now, 0.5)
                    store.cond.wait(max(wait, 0.01))
            if not pending:
                last_bookmark = time.monotonic()
                since = max(since, mark_rv)
                mark = {"kind": KINDS[kind], "apiVersion": API_VERSIONS.get(kind, "v1"),
                        "metadata": {"resourceVersion": str(since)}}
                self.send_event(kind, "BOOKMARK", mark, False, include)


# -------------------------------------------------------------------------------- certs


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_certs(tls_dir, sans):
    """CA (kept once made) and a server certificate for `sans` (remade when they change)."""
    os.makedirs(tls_dir, exist_ok=True)
    ca_key, ca_crt = os.path.join(tls_dir, "ca.key"), os.path.join(tls_dir, "ca.crt")
    key, crt = os.path.join(tls_dir, "server.key"), os.path.join(tls_dir, "server.crt")
    sans_file = os.path.join(tls_dir, "server.sans")
    alt = []
    for s in sans:
        try:
            ipaddress.ip_address(s)
            alt.append(f"IP:{s}")
        except ValueError:
            alt.append(f"DNS:{s}")
    alt_text = ",".join(sorted(set(alt)))
    if not (os.path.exists(ca_key) and os.path.exists(ca_crt)):
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", ca_key, "-out", ca_crt, "-days", "3650", "-subj", "/CN=podpath-lab-ca",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        os.chmod(ca_key, 0o600)
    current = open(sans_file).read() if os.path.exists(sans_file) else None
    if current != alt_text or not (os.path.exists(key) and os.path.exists(crt)):
        with tempfile.TemporaryDirectory() as tmp:
            csr, ext = os.path.join(tmp, "server.csr"), os.path.join(tmp, "ext.cnf")
            openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", key, "-out", csr, "-subj", "/CN=podpath-lab-apiserver")
            with open(ext, "w") as f:
                f.write(f"subjectAltName={alt_text}\nextendedKeyUsage=serverAuth\n"
                        "keyUsage=critical,digitalSignature,keyEncipherment\nbasicConstraints=CA:FALSE\n")
            openssl("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
                    "-out", crt, "-days", "825", "-extfile", ext)
        os.chmod(key, 0o600)
        with open(sans_file, "w") as f:
            f.write(alt_text)
    return ca_crt, crt, key


def ensure_token(path):
    if path and os.path.exists(path):
        with open(path) as f:
            token = f.read().strip()
        if token:
            return token
    token = secrets.token_hex(32)
    if path:
        fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
        os.replace(path + ".tmp", path)
    return token


def write_atomic(path, text, mode=0o600):
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def kubeconfig_text(server, ca_crt, token, name):
    with open(ca_crt, "rb") as f:
        ca = base64.b64encode(f.read()).decode()
    return (
        "apiVersion: v1\nkind: Config\n"
        f"current-context: {name}\n"
        f"clusters:\n- name: {name}\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\n"
        f"contexts:\n- name: {name}\n  context:\n    cluster: {name}\n    user: {name}\n    namespace: default\n"
        f"users:\n- name: {name}\n  user:\n    token: {token}\n"
    )


def url_host(host):
    return f"[{host}]" if ":" in host else host


# ------------------------------------------------------------------------------- serve


def cmd_serve(args):
    host, _, port = args.listen.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit():
        sys.exit(f"lab-apiserver: --listen must be ADDR:PORT (got {args.listen!r})")
    if not os.path.exists(args.inventory):
        sys.exit(f"lab-apiserver: inventory {args.inventory} not found")
    sans = ["127.0.0.1", "localhost", host] + (args.san or [])
    ca_crt, crt, key = make_certs(args.tls_dir, sans)
    token = ensure_token(args.token_file or os.path.join(args.tls_dir, "token"))
    state_file = args.state_file or os.path.join(args.tls_dir, "apiserver-state.json")

    store = Store(args.history, state_file)
    follower = InventoryFollower(args.inventory, store, args.poll_interval, args.server_version)
    follower.poll_once()
    if follower.error:
        sys.exit(f"lab-apiserver: {follower.error}")

    Handler.store, Handler.token, Handler.options = store, token, args
    server_class = type("Server", (ThreadingHTTPServer,),
                        {"address_family": socket.AF_INET6 if ":" in host else socket.AF_INET})
    server = server_class((host, int(port)), Handler)
    server.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt, key)
    ctx.set_alpn_protocols(["http/1.1"])
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    actual_port = server.server_address[1]
    # The same server on a unix socket: a filesystem socket crosses network namespaces, so a
    # forwarder in another namespace (the lab's gateway) can serve it on an address there.
    unix_server = None
    if args.unix:
        if os.path.exists(args.unix):
            os.unlink(args.unix)
        unix_class = type("UnixServer", (socketserver.ThreadingMixIn, socketserver.UnixStreamServer),
                          {"daemon_threads": True})
        unix_server = unix_class(args.unix, Handler)
        os.chmod(args.unix, 0o600)
        unix_server.socket = ctx.wrap_socket(unix_server.socket, server_side=True)
        threading.Thread(target=unix_server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    url = f"https://{url_host(host)}:{actual_port}"

    if args.kubeconfig_out:
        lab = "lab"
        try:
            with open(args.inventory) as f:
                lab = json.load(f).get("lab", "lab")
        except (OSError, ValueError):
            pass
        write_atomic(args.kubeconfig_out, kubeconfig_text(url, ca_crt, token, f"podpath-lab-{lab}"))

    def stop(signum, frame):
        with store.cond:
            store.stopping = True
            store.cond.notify_all()
        threading.Thread(target=server.shutdown, daemon=True).start()
        if unix_server is not None:
            threading.Thread(target=unix_server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    follower.start()
    if args.ready_file:
        write_atomic(args.ready_file, url + "\n", 0o644)
    log(f"serving {url} (resourceVersion {store.rv}, kubectl sees v{args.server_version})")
    server.serve_forever(poll_interval=0.2)
    server.server_close()
    if unix_server is not None:
        unix_server.server_close()
        try:
            os.unlink(args.unix)
        except OSError:
            pass
    log("stopped")


def cmd_certs(args):
    ca_crt, crt, key = make_certs(args.tls_dir, ["127.0.0.1", "localhost"] + (args.san or []))
    print(ca_crt)
    print(crt)
    print(key)


def read_kubeconfig(path):
    """server, CA data and token of a kubeconfig this script wrote (a fixed, simple layout)."""
    server = ca = token = None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("server:"):
                server = line.split(":", 1)[1].strip()
            elif line.startswith("certificate-authority-data:"):
                ca = base64.b64decode(line.split(":", 1)[1].strip()).decode()
            elif line.startswith("token:"):
                token = line.split(":", 1)[1].strip()
    if not (server and ca and token):
        sys.exit(f"lab-apiserver: {path} is not a kubeconfig written by this server")
    return server, ca, token


def cmd_fault(args):
    server, ca, token = read_kubeconfig(args.kubeconfig)
    ctx = ssl.create_default_context(cadata=ca)
    req = urllib.request.Request(f"{server}/_fixture/{args.fault}", data=b"", method="POST",
                                 headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
        print(r.read().decode())


def main(argv):
    p = argparse.ArgumentParser(prog="lab_apiserver.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command")

    s = sub.add_parser("serve", help="serve the lab inventory as a Kubernetes API (default)")
    s.add_argument("--inventory", required=True, help="lab inventory JSON file to serve and follow")
    s.add_argument("--listen", default="127.0.0.1:0", help="ADDR:PORT (port 0: any free port; default %(default)s)")
    s.add_argument("--tls-dir", required=True, help="CA and server certificate (made when missing), token, state")
    s.add_argument("--unix", help="also serve on this unix socket (same TLS; for a forwarder in another network "
                                  "namespace)")
    s.add_argument("--san", action="append", help="extra server certificate name or IP (repeatable)")
    s.add_argument("--token-file", help="bearer token file (made when missing; default TLS_DIR/token)")
    s.add_argument("--kubeconfig-out", help="write a kubeconfig for clients here")
    s.add_argument("--ready-file", help="write the server URL here once it accepts connections")
    s.add_argument("--state-file", help="resourceVersion and creation times across restarts "
                                        "(default TLS_DIR/apiserver-state.json)")
    s.add_argument("--server-version", default=SERVER_VERSION_DEFAULT,
                   help="MAJOR.MINOR reported by /version; kubectl's version dispatcher picks kubectl.MAJOR.MINOR "
                        "(default %(default)s)")
    s.add_argument("--poll-interval", type=float, default=0.2, help="inventory mtime poll, seconds")
    s.add_argument("--bookmark-interval", type=float, default=BOOKMARK_INTERVAL_DEFAULT,
                   help="seconds between BOOKMARK events on a quiet watch")
    s.add_argument("--history", type=int, default=HISTORY_DEFAULT, help="watch events kept for resuming")
    s.add_argument("--watch-timeout", type=int, default=WATCH_TIMEOUT_DEFAULT,
                   help="seconds a watch without timeoutSeconds lasts")
    s.add_argument("--expired-as", choices=["event", "status"], default="event",
                   help="a too-old watch resourceVersion gets an ERROR event (like kube-apiserver) or HTTP 410")
    s.add_argument("--access-log", action="store_true", help="log every request to stderr")
    s.add_argument("--manifest-kinds", action="store_true",
                   help="also list ServiceAccount, DaemonSet, ClusterRole and ClusterRoleBinding in discovery "
                        "(never served): for kubectl create --dry-run=client of deploy/")

    c = sub.add_parser("certs", help="make the CA and server certificate only")
    c.add_argument("--tls-dir", required=True)
    c.add_argument("--san", action="append")

    f = sub.add_parser("fault", help="inject a fault into a running server")
    f.add_argument("--kubeconfig", required=True, help="a kubeconfig written with --kubeconfig-out")
    f.add_argument("fault", choices=["mute", "compact"])

    if argv and argv[0] not in ("serve", "certs", "fault", "-h", "--help"):
        argv = ["serve"] + argv
    args = p.parse_args(argv)
    if args.command == "serve":
        cmd_serve(args)
    elif args.command == "certs":
        cmd_certs(args)
    elif args.command == "fault":
        cmd_fault(args)
    else:
        p.print_help()
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
