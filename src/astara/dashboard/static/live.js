// Live status: every element marked data-live="kind:id" is refreshed from
// /status.json every data-refresh seconds while the page is open. Our own code.
"use strict";
(function () {
  const cells = () => document.querySelectorAll("[data-live]");
  const period = 1000 * (Number(document.body.dataset.refresh) || 2);

  function paint(cell, st) {
    cell.className = "status " + st.tone;
    cell.querySelector(".label").textContent = st.status;
    const bar = cell.querySelector("progress");
    bar.hidden = !st.busy;
    if (st.progress !== null && st.progress !== undefined) {
      bar.value = st.progress; bar.max = 100;
    }
  }

  async function tick() {
    if (cells().length === 0) return;
    try {
      const r = await fetch("/status.json", {credentials: "same-origin"});
      if (!r.ok) return;
      const all = await r.json();
      for (const cell of cells()) {
        const st = all[cell.dataset.live];
        if (st) paint(cell, st);
        else { cell.querySelector(".label").textContent = "gone"; cell.className = "status plain"; }
      }
    } catch (e) { /* the next tick tries again */ }
  }

  window.addEventListener("DOMContentLoaded", () => {
    if (cells().length) setInterval(tick, period);
  });
})();
