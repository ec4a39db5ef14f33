// The topology picture: /topology.json (nodes placed by the server, edges) drawn as
// SVG, redrawn every data-refresh seconds. Each node links to its page (an external
// network has none). Our own code.
"use strict";
(function () {
  const NS = "http://www.w3.org/2000/svg";
  const W = 150, H = 36;

  function el(name, attrs, parent) {
    const e = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (parent) parent.appendChild(e);
    return e;
  }

  function draw(box, graph) {
    const byId = new Map(graph.nodes.map((n) => [n.id, n]));
    const width = Math.max(1000, ...graph.nodes.map((n) => n.x + W));
    const height = Math.max(200, ...graph.nodes.map((n) => n.y + H + 20));
    const svg = el("svg", {viewBox: `0 0 ${width} ${height}`, width: width, height: height,
                           role: "img", "aria-label": "topology"});
    for (const e of graph.edges) {
      const a = byId.get(e.from), b = byId.get(e.to);
      if (!a || !b) continue;
      el("line", {x1: a.x, y1: a.y, x2: b.x, y2: b.y, class: "edge",
                  "data-edge": `${e.from}>${e.to}`}, svg);
    }
    for (const n of graph.nodes) {
      // A node with no page of the tenant's (an external network) is not a link.
      const link = n.href ? el("a", {href: n.href, "data-node": n.id, "data-kind": n.kind}, svg)
        : el("g", {"data-node": n.id, "data-kind": n.kind}, svg);
      el("rect", {x: n.x - W / 2, y: n.y - H / 2, width: W, height: H, rx: 8,
                  class: `node ${n.kind} s-${(n.status || "").toLowerCase()}`}, link);
      const t = el("text", {x: n.x, y: n.y - 2, "text-anchor": "middle"}, link);
      t.textContent = n.label.length > 20 ? n.label.slice(0, 19) + "…" : n.label;
      const s = el("text", {x: n.x, y: n.y + 12, "text-anchor": "middle", class: "st"}, link);
      s.textContent = n.status || "";
    }
    box.replaceChildren(svg);
    if (graph.nodes.length === 0) box.insertAdjacentHTML("beforeend", "<p>Nothing yet.</p>");
  }

  async function refresh(box) {
    try {
      const r = await fetch(box.dataset.source, {credentials: "same-origin"});
      if (r.ok) draw(box, await r.json());
    } catch (e) { /* the next tick tries again */ }
  }

  window.addEventListener("DOMContentLoaded", () => {
    const box = document.getElementById("topology");
    if (!box) return;
    refresh(box);
    setInterval(() => refresh(box), 1000 * (Number(document.body.dataset.refresh) || 2));
  });
})();
