// podpath's live routing map (docs/web.md). A client of the public API only:
//   GET /v1/nodes          every node the server watches: interfaces, routes, pods
//   GET /v1/flows/stream   server-sent events: a snapshot, then what changed each refresh
//   GET /v1/drops          recent kernel drops, with the hop and the kernel's reason
// and, read from a file the operator picks, a `podpath check --output json` result.
// Plain DOM and SVG, no library, nothing loaded from elsewhere (the page's
// Content-Security-Policy allows its own origin only).
'use strict';

(() => {
  const SVG = 'http://www.w3.org/2000/svg';
  const NODE_W = 330, NODE_GAP = 34, POD_W = 150, POD_H = 40, POD_GAP = 8, TOP = 20;
  const STALE_MS = 20000;  // the server sends a heartbeat after 15 s without an event

  const state = {
    token: sessionStorage.getItem('podpath-token') || '',
    nodes: [], gateway: null,   // from /v1/nodes
    flows: new Map(),            // id -> conversation (trace JSON schema, with "id")
    drops: [],                   // from /v1/drops
    check: null,                 // a loaded check result
    namespace: '',
    selectedPod: null,           // pod name "ns/name"
    selectedFlow: null,          // conversation id
    stream: 'connecting', lastMessage: 0, seq: 0, updates: 0,
    anchors: new Map(),          // "node|iface" and "gateway" -> {x, y}
    podsByVeth: new Map(), podsByIp: new Map(),
    renderMs: 0, renders: 0,
  };
  // For tests and the curious: the page's state and timings.
  window.podpathMap = state;

  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs = {}, text) => {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const html = (tag, attrs = {}, text) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  };

  function fmtRate(pps) {
    if (!pps) return '0 pkt/s';
    if (pps >= 1e6) return (pps / 1e6).toFixed(1) + ' Mpkt/s';
    if (pps >= 1e3) return (pps / 1e3).toFixed(1) + ' kpkt/s';
    return (pps >= 10 ? pps.toFixed(0) : pps.toFixed(1)) + ' pkt/s';
  }
  const fmtCount = (n) => (n === null || n === undefined ? '–' : String(n));

  // An IPv4 address with its 4th octet highlighted, as `podpath pods` prints it.
  function ipParts(ip) {
    const i = ip.lastIndexOf('.');
    return i < 0 ? [ip, ''] : [ip.slice(0, i + 1), ip.slice(i + 1)];
  }
  function svgIp(x, y, ip, cls) {
    const t = el('text', { x, y, class: cls || '' });
    const [head, tail] = ipParts(ip);
    t.appendChild(document.createTextNode(head));
    if (tail) t.appendChild(el('tspan', { class: 'oct4' }, tail));
    return t;
  }
  function htmlIp(ip) {
    const s = html('span');
    const [head, tail] = ipParts(ip || '');
    s.appendChild(document.createTextNode(head));
    if (tail) s.appendChild(html('span', { class: 'oct4' }, tail));
    return s;
  }

  // ------------------------------------------------------------------ API access
  async function api(path) {
    const headers = state.token ? { Authorization: 'Bearer ' + state.token } : {};
    const res = await fetch(path, { headers, cache: 'no-store' });
    if (res.status === 401) { askToken(); throw new Error('401'); }
    if (!res.ok) throw new Error(path + ': HTTP ' + res.status);
    return res.json();
  }
  function askToken() {
    $('token-form').hidden = false;
  }
  $('token-submit').addEventListener('submit', (ev) => {
    ev.preventDefault();
    state.token = $('token-input').value.trim();
    sessionStorage.setItem('podpath-token', state.token);
    $('token-form').hidden = true;
    loadNodes(); connect();
  });

  async function loadNodes() {
    try {
      const body = await api('/v1/nodes');
      const key = JSON.stringify(body.nodes.map((n) => [n.node, n.pods, n.routes, n.interfaces, n.agent_state])) +
                  JSON.stringify(body.gateway);
      if (key !== state.nodesKey) {
        state.nodesKey = key;
        state.nodes = body.nodes;
        state.gateway = body.gateway;
        fillNamespaces();
        render();
      }
      const labels = body.nodes.map((n) => n.node + (agentDown(n) ? ' (' + (n.agent_state.state === 'none' ? 'no agent' : 'unreachable') + ')' : '')).join(', ');
      $('source').textContent = body.nodes.length + ' node(s): ' + labels;
    } catch (e) {
      if (e.message !== '401') $('source').textContent = 'cannot read /v1/nodes: ' + e.message;
    }
  }
  async function loadDrops() {
    try {
      const body = await api('/v1/drops?limit=200');
      const key = body.drops.length ? JSON.stringify(body.drops[0]) + body.drops.length : '';
      if (key !== state.dropsKey) { state.dropsKey = key; state.drops = body.drops; render(); }
    } catch (e) { /* shown by the stream state */ }
  }

  // `trace --cluster --web`: a node whose agent does not answer (or that has none) is drawn
  // from what was last known, marked, and its hops are unknown rather than missing.
  function agentDown(n) { return !!n.agent_state && n.agent_state.state !== 'reachable'; }
  function agentText(st) {
    if (st.state === 'none') return 'no agent on this node · hops unknown';
    return 'agent unreachable' + (st.since ? ' since ' + st.since : '') + ' · hops unknown';
  }

  // ------------------------------------------------------------------ the stream
  // fetch() rather than EventSource: it can carry the bearer token, and the page sees the
  // stream end at once.
  function setStream(s) {
    state.stream = s;
    const e = $('stream-state');
    e.dataset.state = s;
    e.textContent = { live: 'live', connecting: 'connecting…', stale: 'stream stalled', stopped: 'stream stopped' }[s];
  }
  let controller = null;
  async function connect() {
    if (controller) controller.abort();
    controller = new AbortController();
    const mine = controller;
    setStream('connecting');
    try {
      const headers = state.token ? { Authorization: 'Bearer ' + state.token } : {};
      const res = await fetch('/v1/flows/stream', { headers, signal: mine.signal, cache: 'no-store' });
      if (res.status === 401) { askToken(); setStream('stopped'); return; }
      if (!res.ok || !res.body) throw new Error('HTTP ' + res.status);
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        state.lastMessage = Date.now();
        buf += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buf.indexOf('\n\n')) >= 0) {
          onBlock(buf.slice(0, cut));
          buf = buf.slice(cut + 2);
        }
      }
      throw new Error('the server ended the stream');
    } catch (e) {
      if (mine !== controller) return;  // replaced by a newer connection
      setStream('stopped');
      setTimeout(() => { if (mine === controller) connect(); }, 2000);
    }
  }
  function onBlock(block) {
    let event = 'message', data = '';
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data += line.slice(5).trim();
    }
    if (!data) { if (state.stream === 'stale') setStream('live'); return; }  // heartbeat
    const body = JSON.parse(data);
    if (event === 'snapshot') {
      state.flows = new Map(body.flows.map((f) => [f.id, f]));
    } else if (event === 'update') {
      for (const id of body.removed) state.flows.delete(id);
      for (const f of body.changed) state.flows.set(f.id, f);
      state.updates++;
    }
    state.seq = body.seq;
    setStream('live');
    render();
  }
  setInterval(() => {
    if (state.stream === 'live' && Date.now() - state.lastMessage > STALE_MS) setStream('stale');
  }, 1000);

  // ------------------------------------------------------------------ filters
  function fillNamespaces() {
    const names = new Set();
    for (const n of state.nodes) for (const p of n.pods || []) names.add(p.namespace);
    const sel = $('ns-filter');
    const keep = sel.value;
    while (sel.options.length > 1) sel.remove(1);
    for (const ns of [...names].sort()) sel.add(new Option(ns, ns));
    sel.value = names.has(keep) ? keep : '';
  }
  $('ns-filter').addEventListener('change', (ev) => { state.namespace = ev.target.value; render(); });
  const podVisible = (p) => !state.namespace || p.namespace === state.namespace;
  function flowVisible(f) {
    if (!state.namespace) return true;
    return f.src.namespace === state.namespace || f.dst.namespace === state.namespace;
  }

  // ------------------------------------------------------------------ check results
  $('check-file').addEventListener('change', async (ev) => {
    const file = ev.target.files[0];
    if (!file) return;
    try {
      state.check = JSON.parse(await file.text());
    } catch (e) {
      state.check = { error: 'not a JSON file: ' + e.message };
    }
    render();
  });
  $('check-clear').addEventListener('click', () => { state.check = null; $('check-file').value = ''; render(); });

  function renderCheckBanner() {
    const b = $('check-banner');
    $('check-clear').hidden = !state.check;
    if (!state.check) { b.hidden = true; return; }
    b.hidden = false;
    const c = state.check;
    if (c.error) { b.className = 'bad'; b.textContent = c.error; return; }
    if (c.mode === 'passive') {
      b.className = (c.problems || []).length ? 'bad' : 'good';
      b.textContent = 'passive check: ' + ((c.problems || []).length ? c.problems.length + ' problem(s)' : 'no problem seen');
      return;
    }
    const v = c.verdict || {};
    b.className = c.reachable ? 'good' : 'bad';
    b.textContent = 'check ' + ((c.src || {}).name || '?') + ' → ' + ((c.dst || {}).name || '?') + ': ' +
                    (v.summary || v.kind || 'no verdict');
  }

  // ------------------------------------------------------------------ layout and drawing
  function anchorKey(node, iface) { return node + '|' + iface; }

  // The anchor a hop is drawn at: the pod's box for its veth, else the interface's box.
  function hopAnchor(hop) {
    if (hop.role === 'gateway' || hop.node === (state.gateway || {}).name) return state.anchors.get('gateway');
    return state.anchors.get(anchorKey(hop.node, hop.interface)) ||
           (hop.role === 'bridge' ? state.anchors.get(anchorKey(hop.node, '#bridge')) : null) ||
           (hop.role === 'uplink' ? state.anchors.get(anchorKey(hop.node, '#uplink')) : null);
  }

  function render() {
    const t0 = performance.now();
    renderCheckBanner();
    const svg = $('map');
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    state.anchors.clear(); state.podsByVeth.clear(); state.podsByIp.clear();

    const nodes = state.nodes;
    const width = Math.max(1, nodes.length) * (NODE_W + NODE_GAP) + NODE_GAP;
    const layer = { boxes: el('g'), edges: el('g'), marks: el('g') };

    // The gateway, with its per-node routes.
    const gw = state.gateway;
    const gwRoutes = gw ? (gw.routes || []).filter((r) => r.family !== 'inet6' && r.family !== 6) : [];
    const derived = !gwRoutes.length;  // a cloud router podpath cannot read: the routes it must hold
    const gwLines = derived
      ? nodes.filter((n) => n.pod_cidr && n.underlay_ip).map((n) => `${n.pod_cidr} via ${n.underlay_ip}  (${n.node})`)
      : gwRoutes.map((r) => `${r.destination}/${maskBits(r.genmask)} ${r.gateway && r.gateway !== '0.0.0.0' ? 'via ' + r.gateway : 'dev ' + r.iface}${r.owner ? '  (' + r.owner + ')' : ''}`);
    const gwW = 420, gwH = 36 + 13 * gwLines.length;
    const gwX = width / 2 - gwW / 2;
    const g = el('g', { class: 'gateway', 'data-name': gw ? gw.name : 'gateway' });
    g.appendChild(el('rect', { x: gwX, y: TOP, width: gwW, height: gwH, rx: 8, class: 'gw-box' }));
    g.appendChild(el('text', { x: gwX + 10, y: TOP + 18, class: 'title' },
      (gw ? gw.name + ' ' + gw.ip : 'gateway') + (derived ? '  (routes it must hold)' : '')));
    gwLines.forEach((line, i) => g.appendChild(el('text', { x: gwX + 10, y: TOP + 34 + 13 * i, class: 'mono' }, line)));
    layer.boxes.appendChild(g);
    state.anchors.set('gateway', { x: width / 2, y: TOP + gwH, name: 'gateway' });

    // Each node: header, route -n, eth0, cbr0, pods.
    const nodeTop = TOP + gwH + 70;
    let maxBottom = nodeTop;
    nodes.forEach((n, i) => {
      const x = NODE_GAP + i * (NODE_W + NODE_GAP);
      const down = agentDown(n);
      const ng = el('g', { class: 'node' + (down ? ' unreachable' : ''), 'data-node': n.node,
                           'data-agent': n.agent_state ? n.agent_state.state : 'local' });
      const routes = (n.routes || []).filter((r) => r.family === 'inet' || r.family === 4 || r.genmask);
      const pods = (n.pods || []).filter(podVisible);
      const ifaceY = nodeTop + 10;
      const routesY = ifaceY + 40 + (down ? 16 : 0);
      const cbrY = routesY + 16 + 12 * (routes.length + 1);
      const podsY = cbrY + 50;
      const cols = 2, rows = Math.ceil(pods.length / cols);
      const h = podsY - nodeTop + rows * (POD_H + POD_GAP) + 10;
      ng.appendChild(el('rect', { x, y: nodeTop, width: NODE_W, height: h, rx: 8, class: 'node-box' }));
      ng.appendChild(el('text', { x: x + 10, y: nodeTop + 22, class: 'title' }, n.node));
      if (n.underlay_ip) ng.appendChild(el('text', { x: x + 70, y: nodeTop + 22, class: 'mono' }, 'underlay ' + n.underlay_ip));
      if (n.pod_cidr) ng.appendChild(el('text', { x: x + 70, y: nodeTop + 34, class: 'mono' }, 'pods ' + n.pod_cidr));
      if (down) {
        const w = el('text', { x: x + 10, y: ifaceY + 44, class: 'agent-down' }, agentText(n.agent_state));
        w.appendChild(el('title', {}, [n.agent_state.reason, n.agent_state.error].filter(Boolean).join('\n')));
        ng.appendChild(w);
      }
      // eth0 (uplink) on the node's top edge, towards the gateway.
      const uplink = n.uplink || 'eth0';
      const ux = x + NODE_W - 90;
      ng.appendChild(el('rect', { x: ux, y: ifaceY - 2, width: 80, height: 24, rx: 4, class: 'iface', 'data-iface': uplink }));
      ng.appendChild(el('text', { x: ux + 8, y: ifaceY + 14 }, uplink));
      const upA = { x: ux + 40, y: ifaceY + 10, name: n.node + ' ' + uplink };
      state.anchors.set(anchorKey(n.node, uplink), upA);
      state.anchors.set(anchorKey(n.node, '#uplink'), upA);
      // route -n, as the node's table says (IPv4).
      ng.appendChild(el('text', { x: x + 10, y: routesY, class: 'mono route-head' }, 'Destination     Gateway         Genmask         Iface'));
      routes.forEach((r, j) => ng.appendChild(el('text', { x: x + 10, y: routesY + 12 * (j + 1), class: 'mono route-line' },
        pad(r.destination, 16) + pad(r.gateway || '0.0.0.0', 16) + pad(r.genmask || '', 16) + (r.iface || ''))));
      // cbr0 (bridge).
      const bridge = n.bridge || 'cbr0';
      const bw = NODE_W - 20;
      ng.appendChild(el('rect', { x: x + 10, y: cbrY, width: bw, height: 24, rx: 4, class: 'iface', 'data-iface': bridge }));
      ng.appendChild(el('text', { x: x + 18, y: cbrY + 16 }, bridge + (n.pod_cidr ? '  ' + n.pod_cidr : '')));
      const brA = { x: x + 10 + bw / 2, y: cbrY + 12, name: n.node + ' ' + bridge };
      state.anchors.set(anchorKey(n.node, bridge), brA);
      state.anchors.set(anchorKey(n.node, '#bridge'), brA);
      // Pods, two per row.
      pods.forEach((p, j) => {
        const px = x + 10 + (j % cols) * (POD_W + POD_GAP + 2);
        const py = podsY + Math.floor(j / cols) * (POD_H + POD_GAP);
        const pg = el('g', { class: 'pod' + (state.selectedPod === p.name ? ' selected' : ''), 'data-pod': p.name, 'data-ip': p.ip });
        pg.appendChild(el('rect', { x: px, y: py, width: POD_W, height: POD_H, rx: 5 }));
        pg.appendChild(el('text', { x: px + 6, y: py + 14 }, shorten(p.pod, 20)));
        pg.appendChild(svgIp(px + 6, py + 27, p.ip, 'mono'));
        pg.appendChild(el('text', { x: px + 6, y: py + 37, class: 'ctr' }, shorten((p.containers || []).join(', '), 26)));
        const title = el('title', {}, `${p.name}\n${p.ip}\nveth ${p.veth || '?'}\ncontainers: ${(p.containers || []).join(', ') || '–'}`);
        pg.appendChild(title);
        ng.appendChild(pg);
        const a = { x: px + POD_W / 2, y: py, name: p.name };
        if (p.veth) state.anchors.set(anchorKey(n.node, p.veth), a);
        state.podsByIp.set(p.ip, Object.assign({ node: n.node }, p));
      });
      // A pod-facing anchor for pods hidden by the filter: their traffic still crosses cbr0.
      (n.pods || []).forEach((p) => {
        if (p.veth && !state.anchors.has(anchorKey(n.node, p.veth))) state.anchors.set(anchorKey(n.node, p.veth), { ...brA, hidden: true });
      });
      layer.boxes.appendChild(ng);
      maxBottom = Math.max(maxBottom, nodeTop + h);
    });

    drawEdges(layer.edges);
    drawMarks(layer.marks);
    svg.appendChild(layer.boxes);
    svg.appendChild(layer.edges);
    svg.appendChild(layer.marks);
    svg.setAttribute('viewBox', `0 0 ${width} ${maxBottom + 20}`);
    svg.setAttribute('height', String(Math.round((maxBottom + 20) * Math.min(1, svg.clientWidth / width || 1))));

    renderPanel();
    state.renderMs = performance.now() - t0;
    state.renders++;
    $('stats').textContent = `${state.flows.size} conversations · seq ${state.seq} · render ${state.renderMs.toFixed(1)} ms`;
  }

  function pad(s, n) { s = String(s || ''); return s.length >= n ? s + ' ' : s + ' '.repeat(n - s.length); }
  function shorten(s, n) { s = String(s || ''); return s.length > n ? s.slice(0, n - 1) + '…' : s; }
  function maskBits(mask) {
    if (!mask) return 32;
    return mask.split('.').reduce((a, o) => a + (Number(o) >>> 0).toString(2).split('1').length - 1, 0);
  }

  // Segments between consecutive observed (or virtual) hops, summed over the visible
  // conversations: one line per pair of places, its rate the packets/s of the later hop.
  function segmentsOf(dir) {
    const out = [];
    let prev = null;
    for (let i = 0; i < (dir.hops || []).length; i++) {
      const h = dir.hops[i];
      const a = hopAnchor(h);
      if (!a) continue;
      if (prev && prev.a !== a) out.push({ from: prev.a, to: a, hop: h, index: i });
      prev = { a, h };
    }
    return out;
  }
  function edgePath(a, b) {
    const my = (a.y + b.y) / 2;
    return `M${a.x},${a.y} C${a.x},${my} ${b.x},${my} ${b.x},${b.y}`;
  }
  function drawEdges(g) {
    const edges = new Map();
    for (const f of state.flows.values()) {
      if (!flowVisible(f)) continue;
      for (const dir of [f.forward, f.reverse]) {
        if (!dir) continue;
        for (const s of segmentsOf(dir)) {
          if (s.hop.state === 'missing' || s.hop.state === 'unknown') continue;
          const key = [s.from.x, s.from.y, s.to.x, s.to.y].join(',');
          const e = edges.get(key) || { from: s.from, to: s.to, pps: 0 };
          e.pps += s.hop.pps || 0;
          edges.set(key, e);
        }
      }
    }
    for (const e of edges.values()) {
      const busy = e.pps > 0;
      const p = el('path', { d: edgePath(e.from, e.to), class: 'edge ' + (busy ? 'busy' : 'idle'),
                              'stroke-width': busy ? Math.min(8, 1.5 + Math.log10(1 + e.pps) * 2) : 1 });
      // Faster dashes for busier paths: one dash cycle per (1 / log rate) seconds.
      if (busy) p.style.animationDuration = (2 / Math.max(0.25, Math.log10(1 + e.pps))).toFixed(2) + 's';
      p.appendChild(el('title', {}, `${e.from.name} → ${e.to.name}: ${fmtRate(e.pps)}`));
      g.appendChild(p);
      if (busy) {
        g.appendChild(el('text', { x: (e.from.x + e.to.x) / 2 + 4, y: (e.from.y + e.to.y) / 2, class: 'edge-label' }, fmtRate(e.pps)));
      }
    }
    // The selected conversation, hop by hop, on top.
    const f = state.flows.get(state.selectedFlow);
    if (f) {
      for (const dir of [f.forward, f.reverse]) {
        if (!dir) continue;
        for (const s of segmentsOf(dir)) {
          g.appendChild(el('path', { d: edgePath(s.from, s.to), class: 'edge selected busy', 'stroke-width': 3 }));
        }
        (dir.hops || []).forEach((h, i) => {
          const a = hopAnchor(h);
          if (!a) return;
          const dx = dir === f.forward ? -36 : 6, dy = dir === f.forward ? -8 : 8;
          const b = el('g', { class: 'hop-badge', 'data-hop': i, 'data-dir': dir === f.forward ? 'forward' : 'reverse' });
          b.appendChild(el('rect', { x: a.x + dx, y: a.y + dy - 9, width: 32, height: 12, rx: 3 }));
          b.appendChild(el('text', { x: a.x + dx + 3, y: a.y + dy }, h.observed ? fmtCount(h.packets) : (h.state === 'virtual' ? 'gw' : h.state === 'unknown' ? '?' : '✗')));
          b.appendChild(el('title', {}, `${h.node} ${h.interface} ${h.direction}: ${h.state}${h.route ? '\nroute ' + h.route : ''}`));
          g.appendChild(b);
        });
      }
    }
  }

  // Drops (live, from /v1/drops) and a loaded check's findings, at the hop where they are.
  function dropAnchor(d) {
    const hop = d.hop || {};
    if (d.place && d.place.kind === 'pod') {
      const p = [...state.podsByIp.values()].find((x) => x.name === d.place.name);
      if (p && p.veth) return state.anchors.get(anchorKey(p.node || hop.node, p.veth)) || findPodAnchor(p);
      return p ? findPodAnchor(p) : null;
    }
    if (hop.interface) return state.anchors.get(anchorKey(hop.node, hop.interface)) || state.anchors.get(anchorKey(hop.node, '#uplink'));
    return state.anchors.get(anchorKey(hop.node, '#uplink'));
  }
  function findPodAnchor(p) {
    for (const n of state.nodes) if ((n.pods || []).some((x) => x.name === p.name)) return state.anchors.get(anchorKey(n.node, p.veth));
    return null;
  }
  function dropMarker(g, a, text, title, cls) {
    const m = el('g', { class: cls || 'marker-drop', 'data-node': a.name.split(' ')[0], 'data-at': a.name });
    m.appendChild(el('circle', { cx: a.x - 14, cy: a.y, r: 9 }));
    m.appendChild(el('text', { x: a.x - 18, y: a.y + 4 }, '✗'));
    m.appendChild(el('text', { x: a.x - 2, y: a.y - 12, class: 'edge-label drop' }, text));
    m.appendChild(el('title', {}, title));
    g.appendChild(m);
  }
  function drawMarks(g) {
    const placed = new Map();
    for (const d of state.drops) {
      if (state.namespace && d.flow && !(d.flow.src.namespace === state.namespace || d.flow.dst.namespace === state.namespace)) continue;
      const a = dropAnchor(d);
      if (!a) continue;
      const key = a.name + '|' + d.reason;
      const m = placed.get(key) || { a, reason: d.reason || 'dropped', location: d.location, n: 0 };
      m.n++;
      placed.set(key, m);
    }
    for (const m of placed.values()) {
      dropMarker(g, m.a, `${m.n}× ${m.reason}`, `kernel drop: ${m.reason} in ${m.location || '?'} at ${m.a.name}`, 'marker-drop live-drop');
    }
    const c = state.check;
    if (!c || c.error || c.mode === 'passive') return;
    // Hops the probes never reached (the reply's only when the request arrived: a reply that
    // was never sent is missing everywhere), and the hop the verdict names.
    const parts = c.request && c.request.complete ? [c.request, c.reply] : [c.request];
    for (const part of parts) {
      for (const h of (part && part.hops) || []) {
        if (h.state !== 'missing') continue;
        const a = hopAnchor(h);
        if (a) g.appendChild(el('circle', { cx: a.x, cy: a.y, r: 16, class: 'marker-missing', 'data-node': h.node, 'data-iface': h.interface }));
      }
    }
    const v = c.verdict || {};
    const blocked = c.reachable ? null : verdictPlace(c);
    if (blocked) {
      const a = blocked.anchor;
      const m = el('g', { class: 'marker-blocked', 'data-node': blocked.node, 'data-iface': blocked.iface });
      m.appendChild(el('rect', { x: a.x - 60, y: a.y + 14, width: 120, height: 16, rx: 3 }));
      m.appendChild(el('text', { x: a.x - 56, y: a.y + 26 }, 'blocked: ' + shorten(v.kind || 'not reachable', 14)));
      m.appendChild(el('title', {}, v.summary || ''));
      g.appendChild(m);
    }
    for (const d of c.drops || []) {
      const a = state.anchors.get(anchorKey(d.place, d.interface)) || state.anchors.get(anchorKey(d.place, '#uplink'));
      if (a) dropMarker(g, a, `${d.count}× ${d.reason || 'dropped'}`, `check: ${d.reason} in ${d.function || d.location} at ${d.place} ${d.interface || ''}`, 'marker-drop check-drop');
    }
  }

  // Where a failed check stops: the hop its verdict names ("node2 eth0 ingress"), else where
  // its probes were dropped, else the last hop they were seen at before the first missing one.
  function verdictPlace(c) {
    const at = (node, iface) => {
      const anchor = state.anchors.get(anchorKey(node, iface));
      return anchor ? { anchor, node, iface } : null;
    };
    const v = c.verdict || {};
    if (typeof v.hop === 'string' && v.hop) {
      const [node, iface] = v.hop.split(' ');
      const p = at(node, iface);
      if (p) return p;
    }
    for (const d of c.drops || []) {
      const p = at(d.place, d.interface) || at(d.place, '#uplink');
      if (p) return p;
    }
    const hops = (c.request || {}).hops || [];
    const i = hops.findIndex((h) => h.state === 'missing');
    for (let j = i - 1; j >= 0; j--) {
      const p = at(hops[j].node, hops[j].interface);
      if (p) return p;
    }
    return null;
  }

  // ------------------------------------------------------------------ side panel
  function endpointName(e) { return e.pod ? e.name : (e.name || e.ip); }
  function renderPanel() {
    const podPanel = $('pod-panel');
    podPanel.replaceChildren(html('h2', {}, state.selectedPod ? 'Conversations of ' + state.selectedPod : 'Busiest conversations'));
    let list = [...state.flows.values()].filter(flowVisible);
    if (state.selectedPod) list = list.filter((f) => f.src.name === state.selectedPod || f.dst.name === state.selectedPod);
    list.sort((a, b) => ((b.forward.pps || 0) + ((b.reverse || {}).pps || 0)) - ((a.forward.pps || 0) + ((a.reverse || {}).pps || 0)));
    if (!list.length) podPanel.appendChild(html('p', { class: 'muted' }, 'No conversations.'));
    for (const f of list.slice(0, 50)) {
      const row = html('div', { class: 'conv' + (f.id === state.selectedFlow ? ' selected' : ''), 'data-flow': f.id });
      row.append(endpointName(f.src) + ' → ' + endpointName(f.dst) + '  ' + f.proto + (f.proto === 'ICMP' ? '' : ' ' + f.dport) + '  ');
      row.appendChild(html('span', { class: 'rate' }, fmtRate((f.forward.pps || 0) + ((f.reverse || {}).pps || 0))));
      if (!f.forward.complete) row.appendChild(html('span', { class: 'drop' }, '  ✗ incomplete'));
      podPanel.appendChild(row);
    }

    const pathPanel = $('path-panel');
    pathPanel.replaceChildren();
    const f = state.flows.get(state.selectedFlow);
    if (f) {
      pathPanel.appendChild(html('h2', {}, 'Path, hop by hop'));
      for (const [label, dir] of [['request', f.forward], ['reply', f.reverse]]) {
        if (!dir) { pathPanel.appendChild(html('p', { class: 'muted' }, label + ': none seen')); continue; }
        const head = html('p');
        head.append(label + ' ');
        head.appendChild(htmlIp(dir.src)); head.append(' → '); head.appendChild(htmlIp(dir.dst));
        head.append(' — ' + (dir.verdict || ''));
        pathPanel.appendChild(head);
        const t = html('table', { class: 'hops', 'data-dir': label });
        t.appendChild(rowOf('th', ['node', 'interface', 'dir', 'pkts', 'rate']));
        dir.hops.forEach((h, i) => {
          const tr = rowOf('td', [h.node, h.interface, h.direction, fmtCount(h.packets), h.observed ? fmtRate(h.pps) : h.state]);
          tr.className = 'hop ' + h.state;
          tr.dataset.hop = i;
          tr.children[3].className = 'num packets';
          t.appendChild(tr);
          if (h.route || h.note) {
            const r = html('tr', { class: 'route-row' });
            const td = html('td', { colspan: 5, class: 'route' }, (h.route ? 'route ' + h.route : '') + (h.note && h.note !== h.route ? (h.route ? ' · ' : '') + h.note : ''));
            r.appendChild(td);
            t.appendChild(r);
          }
        });
        pathPanel.appendChild(t);
      }
    }

    const dropsPanel = $('drops-panel');
    dropsPanel.replaceChildren();
    if (state.drops.length) {
      dropsPanel.appendChild(html('h2', {}, 'Recent kernel drops'));
      for (const d of state.drops.slice(0, 10)) {
        const fl = d.flow || {};
        dropsPanel.appendChild(html('div', { class: 'drop' },
          `${d.reason || 'dropped'} at ${(d.hop || {}).node || ''} ${(d.hop || {}).interface || d.place.name} — ` +
          `${(fl.src || {}).name || ''} → ${(fl.dst || {}).name || ''} ${fl.proto || ''} (${d.location || ''})`));
      }
    }
  }
  function rowOf(cell, values) {
    const tr = html('tr');
    for (const v of values) tr.appendChild(html(cell, {}, String(v)));
    return tr;
  }

  // Selection on pointerdown, delegated: the map and the list are redrawn at every update,
  // and a click whose press and release fall on two generations of an element is lost.
  $('map').addEventListener('pointerdown', (ev) => {
    const pod = ev.target.closest('g.pod');
    if (!pod) return;
    state.selectedPod = pod.dataset.pod; state.selectedFlow = null; render();
  });
  $('pod-panel').addEventListener('pointerdown', (ev) => {
    const row = ev.target.closest('.conv');
    if (!row) return;
    state.selectedFlow = row.dataset.flow; render();
  });
  window.addEventListener('resize', () => render());
  loadNodes().then(() => { connect(); loadDrops(); });
  setInterval(loadNodes, 5000);
  setInterval(loadDrops, 2000);
})();
