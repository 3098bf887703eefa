#!/usr/bin/env python3
"""Drives headless Chromium through the web map (docs/web.md) for web_map_test.sh.

The shell test brings the lab up and starts `podpath trace --lab LAB --web 127.0.0.1:0`;
this script opens the page and checks, in a real browser, that
  - the page loads with no console error and its stream goes live;
  - every node and every pod of the lab's inventory is drawn;
  - the namespace filter narrows the pods drawn;
  - a ping between a node1 pod and a node2 pod raises the counter of each observed hop of
    that path, in the page, without a reload (the stream delivers it);
  - with `scripts/lab break firewall node2`, a ping node1 -> node2 makes the kernel's drops
    appear live at node2's hop with their reason (NETFILTER_DROP), with no check loaded, and
    /v1/drops (read with curl) holds them;
  - with a `podpath check` result loaded, the blocked hop (node2) is marked;
  - when the server goes away, the page says its stream stopped (a broken stream is seen).
With --cluster the server is `podpath trace --cluster --web` reading the lab's agents: the
page loads, every node and pod is drawn, a ping raises its path's hop counters, and once
node2's agent is stopped (--agent-pid) node2 is drawn as unreachable with its pods.
It saves 1280x800 screenshots into --screenshots. One line per check on stdout ("ok ..." or
"FAIL ..."); the exit code is the number of failures (capped at 100).

  web_map_driver.py --url URL --lab LAB --podpath BIN --lab-script scripts/lab
                    --trace-pid PID --screenshots DIR [--cluster --agent-pid PID]
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

FAILS = 0


def ok(what):
    print(f"ok    {what}", flush=True)


def fail(what):
    global FAILS
    FAILS += 1
    print(f"FAIL  {what}", flush=True)


def check(what, cond):
    (ok if cond else fail)(what)
    return cond


def wait_for(fn, timeout, step=0.1):
    """Polls fn() until it returns something true or `timeout` seconds pass."""
    end = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() >= end:
            return value
        time.sleep(step)


def browser():
    o = Options()
    o.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1280,800", "--hide-scrollbars", "--no-first-run",
              "--disable-extensions", "--disable-background-networking"):
        o.add_argument(a)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)


def console_errors(d):
    return [e for e in d.get_log("browser") if e.get("level") == "SEVERE"]


def lab(args, *rest, check_rc=True):
    cmd = [args.lab_script] + list(rest[:1]) + ["--name", args.lab] + list(rest[1:])
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if check_rc and r.returncode != 0:
        fail(f"{' '.join(cmd)} exited {r.returncode}: {r.stdout.strip()}")
    return r


# One echo identifier for every ping: the conversation is keyed by it, so the second ping
# counts on the same conversation (and the same hops) as the first.
ECHO_ID = "4242"


def ping(args, pod, ip, count):
    return lab(args, "exec", pod, "--", "ping", "-q", "-e", ECHO_ID, "-c", str(count), "-i", "0.2", "-W", "1",
               ip, check_rc=False)


def click(d, css, text=None):
    """Clicks the first element matching `css` (and containing `text`): the map is redrawn at
    every update, so an element found may be replaced before the click reaches it."""
    for _ in range(50):
        try:
            for e in d.find_elements(By.CSS_SELECTOR, css):
                if text is None or all(t in e.text for t in text):
                    e.click()
                    return True
        except StaleElementReferenceException:
            pass
        time.sleep(0.1)
    return False


def hop_packets(d):
    """The request direction's hop counters of the selected conversation, as the panel shows them."""
    return d.execute_script(
        "return [...document.querySelectorAll('table.hops[data-dir=request] tr.hop')]"
        ".map(tr => [tr.className, tr.querySelector('td.packets').textContent])")


def page_loads(d, url):
    d.get(url)
    d.execute_script("window.__sameDocument = 'yes';")
    live = wait_for(lambda: d.execute_script(
        "return document.getElementById('stream-state').dataset.state === 'live'"), 15)
    check("the page's stream is live", live)
    wait_for(lambda: d.execute_script("return document.querySelectorAll('#map g.pod').length"), 10)
    check("no console error on load", not console_errors(d))


def picture_drawn(d, nodes, pods):
    """Every node, every pod (4th octet highlighted), the gateway and each route -n; returns the pods drawn."""
    for n in nodes:
        check(f"node {n} is drawn",
              d.execute_script(f"return !!document.querySelector('#map g.node[data-node=\"{n}\"]')"))
    drawn_pods = set(d.execute_script(
        "return [...document.querySelectorAll('#map g.pod')].map(g => g.dataset.pod)"))
    expected = {f"{x['namespace']}/{x['name']}" for x in pods}
    check(f"every pod is drawn ({len(expected)})", expected <= drawn_pods)
    check("the gateway is drawn", d.execute_script("return !!document.querySelector('#map g.gateway')"))
    check("each node shows its route -n table",
          d.execute_script("return document.querySelectorAll('#map .route-line').length") >= 2 * len(nodes))
    check("the 4th octet of pod IPs is highlighted",
          d.execute_script("return document.querySelectorAll('#map g.pod tspan.oct4').length") == len(drawn_pods))
    return drawn_pods


def ping_raises_counters(d, args, a, c):
    """Selects a's ICMP conversation with c and checks that a second ping raises every observed
    hop's counter, through the stream, within 2 s. False when the conversation or its six hops
    never showed."""
    a_name = f"{a['namespace']}/{a['name']}"
    c_name = f"{c['namespace']}/{c['name']}"
    ping(args, a["name"], c["ip"], 3)
    check(f"a click on {a_name} selects it", click(d, f"#map g.pod[data-pod=\"{a_name}\"]"))
    row = wait_for(lambda: click(d, "#pod-panel .conv", (c_name, "ICMP")), 10)
    if not check(f"it lists its ICMP conversation with {c_name}, and a click selects it", row):
        return False
    def settled():
        # The first ping's three echo requests at all six points: the map refreshes from each
        # agent on its own schedule, so a node's hops (or counts) may show a refresh later.
        obs = [h for h in hop_packets(d) if "observed" in h[0]]
        return obs if len(obs) == 6 and all(int(h[1]) >= 3 for h in obs) else None
    before = wait_for(settled, 10)
    if not check("the path shows six observed hops, each with the first ping's 3 packets "
                 f"({[h for h in hop_packets(d) if 'observed' in h[0]]})", before):
        return False
    ping(args, a["name"], c["ip"], 5)
    ended = time.monotonic()

    def raised():
        now = hop_packets(d)
        obs = [h for h in now if "observed" in h[0]]
        if len(obs) != len(before):
            return None
        # All five echo requests of the second ping, at every hop.
        if all(int(n[1]) >= int(b[1]) + 5 for n, b in zip(obs, before)):
            return now
        return None
    after = wait_for(raised, 10, step=0.05)
    took = time.monotonic() - ended
    check(f"every observed hop's counter rose by the ping's 5 packets, {took:.2f} s after it ended "
          f"({[b[1] for b in before]} -> {[h[1] for h in (after or [])]})", after)
    check("within 2 s of the ping's end", after and took <= 2.0)
    check("without a reload (the stream delivered it)",
          d.execute_script("return window.__sameDocument") == "yes")
    check("the selected path is highlighted on the map",
          d.execute_script("return document.querySelectorAll('#map .edge.selected').length") >= 5)
    return True


def stream_stops(d, pid):
    """Ends the server: the page must say its stream stopped."""
    os.kill(pid, signal.SIGTERM)
    stopped = wait_for(lambda: d.execute_script(
        "return document.getElementById('stream-state').dataset.state") in ("stopped", "stale"), 10)
    check("the page says its stream stopped when the server went away", stopped)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--lab", required=True)
    p.add_argument("--podpath", required=True)
    p.add_argument("--lab-script", required=True)
    p.add_argument("--trace-pid", type=int, required=True)
    p.add_argument("--screenshots", required=True)
    p.add_argument("--scale", action="store_true",
                   help="only measure: the time to draw the map (median of the renders over 15 s) and a screenshot")
    p.add_argument("--cluster", action="store_true", help="the server is trace --cluster --web")
    p.add_argument("--agent-pid", type=int, help="--cluster: node2's agent, stopped to see it unreachable")
    args = p.parse_args()
    if args.scale:
        return scale(args)
    if args.cluster:
        return cluster(args)
    inventory = json.load(open(f"/run/podpath-lab/{args.lab}/inventory.json"))
    pods = inventory["pods"]
    nodes = [n["name"] for n in inventory["nodes"]]
    node1 = [x for x in pods if x["node"] == "node1"]
    node2 = [x for x in pods if x["node"] == "node2"]
    a, c = node1[0], node2[0]
    c_name = f"{c['namespace']}/{c['name']}"

    d = browser()
    try:
        # ------------------------------------------------------------ the page loads
        page_loads(d, args.url)
        # ------------------------------------------------------------ the picture
        picture_drawn(d, nodes, pods)

        namespaces = sorted({x["namespace"] for x in pods})
        sel = Select(d.find_element(By.ID, "ns-filter"))
        sel.select_by_value(namespaces[0])
        n_ns = d.execute_script("return document.querySelectorAll('#map g.pod').length")
        check(f"the namespace filter keeps the pods of {namespaces[0]}",
              n_ns == len([x for x in pods if x["namespace"] == namespaces[0]]))
        sel.select_by_value("")

        # ------------------------------------------------------------ live counters
        if not ping_raises_counters(d, args, a, c):
            return FAILS
        d.save_screenshot(os.path.join(args.screenshots, "web-map.png"))

        # ------------------------------------------------------------ a check on the map
        lab(args, "break", "firewall", "node2")
        try:
            # Live kernel drops: the trace process tracks them for every node; no check is loaded.
            check("no check result is loaded", d.execute_script("return window.podpathMap.check === null"))
            ping(args, a["name"], c["ip"], 3)
            live_drop = wait_for(lambda: d.execute_script(
                "return [...document.querySelectorAll('#map .marker-drop.live-drop')]"
                ".map(m => [m.dataset.at, m.textContent]).find(m => m[1].includes('NETFILTER_DROP')) || null"), 10)
            check(f"the firewall's drops appear live with the kernel's reason ({live_drop})", live_drop)
            check("at node2's hop", live_drop and live_drop[0].startswith("node2 "))
            check("the side panel lists them",
                  "NETFILTER_DROP" in d.find_element(By.ID, "drops-panel").text)
            r = subprocess.run(["curl", "-fsS", "--max-time", "10", args.url + "v1/drops"],
                               stdout=subprocess.PIPE, text=True)
            drops = json.loads(r.stdout or "{}").get("drops", [])
            ours = [x for x in drops if x.get("reason") == "NETFILTER_DROP" and
                    (x.get("flow") or {}).get("dst", {}).get("ip") == c["ip"]]
            check(f"curl /v1/drops: NETFILTER_DROP of the ping to {c_name} ({len(ours)} of {len(drops)})", ours)
            check("placed at node2's uplink (hop node2, role uplink)",
                  ours and all(x["hop"]["node"] == "node2" and x["hop"]["role"] == "uplink" for x in ours))
            d.save_screenshot(os.path.join(args.screenshots, "web-map-drops.png"))

            with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as out:
                r = subprocess.run([args.podpath, "check", "--lab", args.lab, a["name"], c["name"],
                                    "--output", "json"], stdout=out, stderr=subprocess.PIPE, text=True)
            check(f"podpath check says not reachable (exit {r.returncode})", r.returncode == 1)
            d.find_element(By.ID, "check-file").send_keys(out.name)
            marked = wait_for(lambda: d.execute_script(
                "return document.querySelectorAll('#map .marker-blocked[data-node=\"node2\"]').length"), 5)
            check("the blocked hop on node2 is marked", marked)
            check("the check's drop is shown with the kernel's reason",
                  d.execute_script("return [...document.querySelectorAll('#map .marker-drop.check-drop')]"
                                   ".some(m => m.textContent.includes('NETFILTER_DROP'))"))
            check("the banner gives the verdict",
                  "NOT" in d.find_element(By.ID, "check-banner").text.upper() or
                  "dropped" in d.find_element(By.ID, "check-banner").text)
            d.save_screenshot(os.path.join(args.screenshots, "web-map-check.png"))
            os.unlink(out.name)
        finally:
            lab(args, "heal")

        check("no console error after all of it", not console_errors(d) or print(console_errors(d)))

        # ------------------------------------------------------------ a broken stream is seen
        stream_stops(d, args.trace_pid)
    finally:
        d.quit()
    return FAILS


def cluster(args):
    """`trace --cluster --web`: the map of the lab's agents, read over their unix sockets."""
    inventory = json.load(open(f"/run/podpath-lab/{args.lab}/inventory.json"))
    pods = inventory["pods"]
    nodes = [n["name"] for n in inventory["nodes"]]
    a = [x for x in pods if x["node"] == "node1"][0]
    c = [x for x in pods if x["node"] == "node2"][0]
    d = browser()
    try:
        page_loads(d, args.url)
        picture_drawn(d, nodes, pods)
        check("every node's agent is reachable", d.execute_script(
            "return [...document.querySelectorAll('#map g.node')].every(g => g.dataset.agent === 'reachable')"))
        ping_raises_counters(d, args, a, c)

        # node2's agent goes away: node2 stays drawn, with its pods, marked unreachable.
        os.kill(args.agent_pid, signal.SIGTERM)
        down = wait_for(lambda: d.execute_script(
            "return document.querySelector('#map g.node[data-node=\"node2\"]').dataset.agent"
            " === 'unreachable'"), 15, step=0.2)
        check("node2 is drawn as unreachable once its agent stopped", down)
        check("with a warning naming it", "unreachable" in d.execute_script(
            "return (document.querySelector('#map g.node[data-node=\"node2\"] .agent-down') || {}).textContent || ''"))
        n2 = {f"{x['namespace']}/{x['name']}" for x in pods if x["node"] == "node2"}
        drawn = set(d.execute_script(
            "return [...document.querySelectorAll('#map g.node[data-node=\"node2\"] g.pod')].map(g => g.dataset.pod)"))
        check(f"its pods are still drawn ({len(n2)})", n2 <= drawn)
        d.save_screenshot(os.path.join(args.screenshots, "web-map-cluster-down.png"))
        check("no console error", not console_errors(d) or print(console_errors(d)))
        stream_stops(d, args.trace_pid)
    finally:
        d.quit()
    return FAILS


def scale(args):
    """Render times of the page on a big lab, for docs/web.md (no assertion beyond drawing)."""
    d = browser()
    try:
        t0 = time.monotonic()
        d.get(args.url)
        wait_for(lambda: d.execute_script("return window.podpathMap.flows.size > 0 && "
                                          "document.querySelectorAll('#map g.pod').length > 0"), 30)
        first = time.monotonic() - t0
        samples = []
        last = d.execute_script("return window.podpathMap.renders")
        end = time.monotonic() + 15
        while time.monotonic() < end:
            n, ms = d.execute_script("return [window.podpathMap.renders, window.podpathMap.renderMs]")
            if n != last:
                samples.append(ms)
                last = n
            time.sleep(0.05)
        pods = d.execute_script("return document.querySelectorAll('#map g.pod').length")
        flows = d.execute_script("return window.podpathMap.flows.size")
        edges = d.execute_script("return document.querySelectorAll('#map .edge').length")
        samples.sort()
        med = samples[len(samples) // 2] if samples else float("nan")
        print(f"pods drawn {pods}, conversations {flows}, edges {edges}, first full draw {first:.2f} s, "
              f"renders {len(samples)}, render median {med:.1f} ms, max {max(samples or [0]):.1f} ms")
        click(d, "#map g.pod")
        click(d, "#pod-panel .conv")
        time.sleep(1)
        d.save_screenshot(os.path.join(args.screenshots, "web-map-100.png"))
        check("no console error", not console_errors(d))
    finally:
        d.quit()
    return FAILS


if __name__ == "__main__":
    sys.exit(min(main(), 100))
