#!/usr/bin/env python3
"""Schema checks of deploy/ for the fields podpath depends on (tests/kube/deploy_test.sh).

    deploy_check.py manifests RENDERED.yaml AGENT_HELP.txt PROMETHEUS.yml
        The objects (kubectl kustomize deploy/ output) hold together: the DaemonSet's flags are
        flags `podpath agent` has, its ports, probes, secrets and mounts match its flags, the
        Service selects it, the binding names its service account, the scrape config keeps
        its metrics port.
    deploy_check.py rbac RENDERED.yaml CALLS.txt
        CALLS.txt lines are "VERB GROUP RESOURCE" (GROUP "core" for the core group): every
        call must be granted by the ClusterRole, and the ClusterRole must grant no resource
        the calls do not use, no verb beyond get/list/watch, no wildcard.

Exits 1 with one line per problem.
"""
import re
import sys

import yaml

NAME_LABEL = "app.kubernetes.io/name"
NAMESPACE = "podpath"
API_PORT = 9990
# What the agent may be granted, and what it cannot run without (docs/deploy.md).
ALLOWED_CAPS = {"BPF", "NET_ADMIN", "PERFMON", "SYS_ADMIN", "SYS_PTRACE", "NET_RAW"}
REQUIRED_CAPS = {"BPF", "NET_ADMIN", "PERFMON"}
# Host paths the agent reads, and whether the mount must be read-only.
HOST_PATHS = {"/sys/fs/bpf": True, "/sys/kernel/btf": True, "/sys/fs/cgroup": True, "/var/lib/cni": True,
              "/run/netns": True, "/run/podpath": False}
READ_VERBS = {"get", "list", "watch"}

problems = []


def problem(text):
    problems.append(text)


def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def one(objs, kind, name=None):
    found = [o for o in objs if o.get("kind") == kind and (name is None or o["metadata"]["name"] == name)]
    if len(found) != 1:
        problem(f"expected one {kind}{' ' + name if name else ''}, found {len(found)}")
        return {}
    return found[0]


def flag_values(args):
    """--flag=value or --flag value -> {flag: [values]}."""
    out = {}
    i = 0
    while i < len(args):
        a = args[i]
        if a.startswith("--"):
            if "=" in a:
                k, v = a.split("=", 1)
            elif i + 1 < len(args) and not args[i + 1].startswith("--"):
                k, v = a, args[i + 1]
                i += 1
            else:
                k, v = a, ""
            out.setdefault(k, []).append(v)
        i += 1
    return out


def port_of(address):
    m = re.fullmatch(r".*:(\d+)", address)
    return int(m.group(1)) if m else None


def check_manifests(objs, agent_help, prometheus):
    ns = one(objs, "Namespace", NAMESPACE)
    ds = one(objs, "DaemonSet", "podpath")
    svc = one(objs, "Service", "podpath")
    sa = one(objs, "ServiceAccount", "podpath")
    binding = one(objs, "ClusterRoleBinding", "podpath")
    one(objs, "ClusterRole", "podpath")
    if not (ns and ds and svc and sa and binding):
        return
    for o in objs:
        if o["kind"] in ("DaemonSet", "Service", "ServiceAccount") and o["metadata"].get("namespace") != NAMESPACE:
            problem(f"{o['kind']} {o['metadata']['name']} is not in namespace {NAMESPACE}")

    spec = ds["spec"]
    pod = spec["template"]["spec"]
    labels = spec["template"]["metadata"].get("labels", {})
    if labels.get(NAME_LABEL) != "podpath":
        problem(f"the DaemonSet's pods lack the label {NAME_LABEL}=podpath the cluster client looks for")
    if spec["selector"].get("matchLabels", {}).get(NAME_LABEL) != "podpath":
        problem(f"the DaemonSet's selector is not {NAME_LABEL}=podpath")
    if pod.get("hostNetwork") is not True:
        problem("the agent must run in the node's network namespace (hostNetwork: true)")
    if pod.get("serviceAccountName") != sa["metadata"]["name"]:
        problem("the DaemonSet does not run as the podpath service account")
    subjects = binding.get("subjects", [])
    if {"kind": "ServiceAccount", "name": "podpath", "namespace": NAMESPACE} not in subjects:
        problem("the ClusterRoleBinding does not bind podpath/podpath")
    if binding["roleRef"].get("name") != "podpath" or binding["roleRef"].get("kind") != "ClusterRole":
        problem("the ClusterRoleBinding does not refer to the ClusterRole podpath")

    containers = pod["containers"]
    if len(containers) != 1:
        problem(f"expected one container, found {len(containers)}")
        return
    c = containers[0]
    args = c.get("args", [])
    if not args or args[0] != "agent":
        problem("the container does not run `podpath agent`")
    flags = flag_values(args[1:])
    known = set(re.findall(r"(--[a-z][a-z0-9-]*)", agent_help))
    for f in flags:
        if f not in known:
            problem(f"`podpath agent` has no flag {f} (see `podpath agent --help`)")

    sc = c.get("securityContext", {})
    if sc.get("privileged"):
        problem("the agent runs privileged: grant capabilities instead")
    caps = sc.get("capabilities", {})
    added = set(caps.get("add", []))
    if "ALL" not in caps.get("drop", []):
        problem("the container does not drop ALL capabilities first")
    if added - ALLOWED_CAPS:
        problem(f"capabilities podpath does not need: {sorted(added - ALLOWED_CAPS)}")
    if REQUIRED_CAPS - added:
        problem(f"capabilities the agent cannot run without are missing: {sorted(REQUIRED_CAPS - added)}")

    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    listens = [v for v in flags.get("--listen", []) if not v.startswith("unix:")]
    if ports.get("api") != API_PORT or [port_of(v) for v in listens] != [API_PORT]:
        problem(f"the API must listen on port {API_PORT} (--listen) and the container port 'api' say so")
    metrics = flags.get("--metrics-listen", [])
    if len(metrics) != 1 or port_of(metrics[0]) != ports.get("metrics"):
        problem("--metrics-listen and the container port 'metrics' differ")
    if listens and not ({"--tls-cert", "--tls-key"} <= set(flags) and
                        ({"--token-file", "--tls-client-ca"} & set(flags))):
        problem("the API listens on the node's address without TLS and client authentication")
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = c.get(probe, {}).get("httpGet", {})
        if get.get("path") != path or get.get("port") not in ("metrics", ports.get("metrics")):
            problem(f"{probe} must GET {path} on the metrics port (the only listener without TLS)")
    res = c.get("resources", {})
    for part in ("requests", "limits"):
        for r in ("cpu", "memory"):
            if r not in res.get(part, {}):
                problem(f"resources.{part}.{r} is not set")

    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
    for path, read_only in HOST_PATHS.items():
        vol = next((v for v in volumes.values() if v.get("hostPath", {}).get("path") == path), None)
        if vol is None:
            problem(f"the host path {path} is not a volume")
            continue
        m = next((m for m in mounts.values() if m["name"] == vol["name"]), None)
        if m is None:
            problem(f"the volume of {path} is not mounted")
        elif bool(m.get("readOnly")) != read_only:
            problem(f"{path} must be mounted {'read-only' if read_only else 'read-write'}")
    for flag in ("--tls-cert", "--tls-key", "--token-file", "--tls-client-ca"):
        for value in flags.get(flag, []):
            if not any(value.startswith(p.rstrip("/") + "/") and volumes.get(m["name"], {}).get("secret")
                       for p, m in mounts.items()):
                problem(f"{flag}={value} is not in a mounted secret")

    if svc["spec"].get("clusterIP") != "None":
        problem("the Service is not headless (clusterIP: None)")
    if svc["spec"].get("selector", {}).get(NAME_LABEL) != "podpath":
        problem(f"the Service does not select {NAME_LABEL}=podpath")
    svc_ports = {p["name"]: p for p in svc["spec"].get("ports", [])}
    for name in ("api", "metrics"):
        p = svc_ports.get(name)
        if p is None or p.get("port") != ports.get(name) or p.get("targetPort") not in (name, ports.get(name)):
            problem(f"the Service's port '{name}' is not the agent's ({ports.get(name)})")

    text = open(prometheus).read()
    config = yaml.safe_load(text)
    jobs = [j for j in config.get("scrape_configs", []) if j.get("job_name") == "podpath"]
    if len(jobs) != 1:
        problem("the scrape config has no job 'podpath'")
    else:
        want = f"{svc['metadata']['name']}.{NAMESPACE}.svc"
        sd = jobs[0].get("dns_sd_configs", [])
        if not any(s.get("port") == ports.get("metrics") and any(n.startswith(want) for n in s.get("names", []))
                   for s in sd):
            problem(f"the scrape job does not ask {want} for port {ports.get('metrics')} (the metrics port)")


def check_rbac(objs, calls_file):
    role = one(objs, "ClusterRole", "podpath")
    if not role:
        return
    granted = {}
    for rule in role.get("rules", []):
        if rule.get("nonResourceURLs") or rule.get("resourceNames"):
            problem("the ClusterRole has nonResourceURLs or resourceNames: the client uses neither")
        verbs = set(rule.get("verbs", []))
        if "*" in verbs or verbs - READ_VERBS:
            problem(f"the ClusterRole grants {sorted(verbs - READ_VERBS)}: podpath only reads")
        for g in rule.get("apiGroups", []):
            for r in rule.get("resources", []):
                if "*" in (g, r):
                    problem("the ClusterRole uses a wildcard")
                granted.setdefault((g or "core", r), set()).update(verbs)
    used = {}
    with open(calls_file) as f:
        for line in f:
            if not line.strip():
                continue
            verb, group, resource = line.split()
            used.setdefault((group, resource), set()).add(verb)
    if not used:
        problem("no API call recorded: the recording is broken")
    for key, verbs in sorted(used.items()):
        missing = verbs - granted.get(key, set())
        if missing:
            problem(f"the client calls {'/'.join(sorted(missing))} on {key[1]} ({key[0]}) but the ClusterRole "
                    f"does not grant it: add it to deploy/manifests/10-rbac.yaml and docs/kubernetes.md")
    for key in sorted(set(granted) - set(used)):
        problem(f"the ClusterRole grants {key[1]} ({key[0]}), which the client never uses")
    for key, verbs in sorted(used.items()):
        print(f"  {key[0]:<18} {key[1]:<15} used: {','.join(sorted(verbs)):<11} granted: "
              f"{','.join(sorted(granted.get(key, set())))}")


def main(argv):
    if len(argv) == 5 and argv[1] == "manifests":
        with open(argv[3]) as f:
            check_manifests(load(argv[2]), f.read(), argv[4])
    elif len(argv) == 4 and argv[1] == "rbac":
        check_rbac(load(argv[2]), argv[3])
    else:
        sys.exit(__doc__)
    for p in problems:
        print(f"deploy/: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
