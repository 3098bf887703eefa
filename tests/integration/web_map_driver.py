#!/usr/bin/env python3
"""Drives headless Chromium through the web map (docs/web.md) for web_map_test.sh.

The shell test brings the lab up and starts `podpath trace --lab LAB --web 127.0.0.1:0`;
this script opens the page and checks, in a real browser, that
  - the page loads with no console error and its stream goes live;
  - every node and every pod of the lab's inventory is drawn;
  - the namespace filter narrows the pods drawn;
  - a ping between a node1 pod and a node2 pod raises the counter of each observed hop of
    that path, in the page, without a reload (the stream delivers it);
  - with `scripts/lab break firewall node2` and a `podpath check` result loaded, the
    blocked hop (node2) is marked;
  - when the server goes away, the page says its stream stopped (a broken stream is seen).
It saves 1280x800 screenshots into docs/img/. One line per check on stdout ("ok ..." or
"FAIL ..."); the exit code is the number of failures (capped at 100).

  web_map_driver.py --url URL --lab LAB --podpath BIN --lab-script scripts/lab
                    --trace-pid PID --screenshots DIR
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
    args = p.parse_args()
    if args.scale:
        return scale(args)
    inventory = json.load(open(f"/run/podpath-lab/{args.lab}/inventory.json"))
    pods = inventory["pods"]
    nodes = [n["name"] for n in inventory["nodes"]]
    node1 = [x for x in pods if x["node"] == "node1"]
    node2 = [x for x in pods if x["node"] == "node2"]
    a, c = node1[0], node2[0]
    a_name = f"{a['namespace']}/{a['name']}"
    c_name = f"{c['namespace']}/{c['name']}"

    d = browser()
    try:
        # ------------------------------------------------------------ the page loads
        d.get(args.url)
        d.execute_script("window.__sameDocument = 'yes';")
        live = wait_for(lambda: d.execute_script(
            "return document.getElementById('stream-state').dataset.state === 'live'"), 15)
        check("the page's stream is live", live)
        drawn = wait_for(lambda: d.execute_script(
            "return document.querySelectorAll('#map g.pod').length"), 10)
        check("no console error on load", not console_errors(d))

        # ------------------------------------------------------------ the picture
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

        namespaces = sorted({x["namespace"] for x in pods})
        sel = Select(d.find_element(By.ID, "ns-filter"))
        sel.select_by_value(namespaces[0])
        n_ns = d.execute_script("return document.querySelectorAll('#map g.pod').length")
        check(f"the namespace filter keeps the pods of {namespaces[0]}",
              n_ns == len([x for x in pods if x["namespace"] == namespaces[0]]))
        sel.select_by_value("")

        # ------------------------------------------------------------ live counters
        ping(args, a["name"], c["ip"], 3)
        check(f"a click on {a_name} selects it", click(d, f"#map g.pod[data-pod=\"{a_name}\"]"))
        row = wait_for(lambda: click(d, "#pod-panel .conv", (c_name, "ICMP")), 10)
        if not check(f"it lists its ICMP conversation with {c_name}, and a click selects it", row):
            return FAILS
        before = wait_for(lambda: [h for h in hop_packets(d) if "observed" in h[0]], 5)
        check(f"the path shows six observed hops ({len(before)})", len(before) == 6)
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
        d.save_screenshot(os.path.join(args.screenshots, "web-map.png"))

        # ------------------------------------------------------------ a check on the map
        lab(args, "break", "firewall", "node2")
        try:
            with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as out:
                r = subprocess.run([args.podpath, "check", "--lab", args.lab, a["name"], c["name"],
                                    "--output", "json"], stdout=out, stderr=subprocess.PIPE, text=True)
            check(f"podpath check says not reachable (exit {r.returncode})", r.returncode == 1)
            d.find_element(By.ID, "check-file").send_keys(out.name)
            marked = wait_for(lambda: d.execute_script(
                "return document.querySelectorAll('#map .marker-blocked[data-node=\"node2\"]').length"), 5)
            check("the blocked hop on node2 is marked", marked)
            check("the check's drop is shown with the kernel's reason",
                  d.execute_script("return [...document.querySelectorAll('#map .marker-drop')]"
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
        os.kill(args.trace_pid, signal.SIGTERM)
        stopped = wait_for(lambda: d.execute_script(
            "return document.getElementById('stream-state').dataset.state"), 0.1) and wait_for(
            lambda: d.execute_script(
                "return document.getElementById('stream-state').dataset.state") in ("stopped", "stale"), 10)
        check("the page says its stream stopped when the server went away", stopped)
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
