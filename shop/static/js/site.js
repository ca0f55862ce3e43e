// Progressive enhancement only: every page works without this file.
"use strict";

function formatRemaining(ms) {
  if (ms <= 0) return "Ended";
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60), sec = s % 60;
  const pad = (n) => String(n).padStart(2, "0");
  return (d > 0 ? d + "d " : "") + pad(h) + "h " + pad(m) + "m " + pad(sec) + "s left";
}

function startCountdowns() {
  const nodes = document.querySelectorAll("[data-countdown]");
  if (!nodes.length) return;
  const tick = () => {
    const now = Date.now();
    nodes.forEach((node) => {
      const end = Date.parse(node.dataset.countdown);
      if (Number.isNaN(end)) return;
      node.textContent = formatRemaining(end - now);
      node.setAttribute("title", "Ends " + new Date(end).toLocaleString());
    });
  };
  tick();
  setInterval(tick, 1000);
}

function formatMoney(cents, currency) {
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(cents / 100);
  } catch (e) {
    return (cents / 100).toFixed(2) + " " + currency;
  }
}

function startStats() {
  const box = document.querySelector("[data-stats-url]");
  if (!box) return;
  const refresh = async () => {
    try {
      const res = await fetch(box.dataset.statsUrl, { headers: { Accept: "application/json" } });
      if (!res.ok) return;
      const data = await res.json();
      box.querySelector('[data-stat="purchases"]').textContent = data.purchases;
      box.querySelector('[data-stat="average"]').textContent = formatMoney(data.average_cents, data.currency);
      box.querySelector('[data-stat="total"]').textContent = formatMoney(data.total_cents, data.currency);
    } catch (e) { /* offline for a moment: keep the last numbers */ }
  };
  setInterval(refresh, 15000);
}

document.addEventListener("DOMContentLoaded", () => {
  startCountdowns();
  startStats();
});
