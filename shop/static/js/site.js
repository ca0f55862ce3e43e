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
  // The server's "Ends <date>" stays as the tooltip. (Not toLocaleString: a first Intl call
  // loads locale data, a long task that Lighthouse counts as blocking time on every page load.)
  nodes.forEach((node) => { node.title = node.textContent.trim().replace(/\s+/g, " "); });
  const tick = () => {
    const now = Date.now();
    nodes.forEach((node) => {
      const end = Date.parse(node.dataset.countdown);
      if (Number.isNaN(end)) return;
      node.textContent = formatRemaining(end - now);
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
      box.querySelector('[data-stat="average"]').textContent =
        data.purchases ? formatMoney(data.average_cents, data.currency) : "–";
      box.querySelector('[data-stat="total"]').textContent = formatMoney(data.total_cents, data.currency);
      // The threshold this buyer was shown holds for them; a lower current one applies too.
      const held = parseInt(box.dataset.thresholdHeld, 10);
      const threshold = Number.isNaN(held) ? data.threshold_cents : Math.min(held, data.threshold_cents);
      document.querySelectorAll('[data-stat="threshold"]').forEach((node) => {
        node.textContent = formatMoney(threshold, data.currency);
      });
      [["raised_artists", data.artists_cents], ["raised_charity", data.charity_cents],
        ["raised_store", data.store_cents]].forEach(([name, cents]) => {
        const node = document.querySelector('[data-stat="' + name + '"]');
        if (node) node.textContent = formatMoney(cents, data.currency);
      });
    } catch (e) { /* offline for a moment: keep the last numbers */ }
  };
  setInterval(refresh, 15000);
}

// The pay box. Preset buttons fill the price box (without this script they submit the form
// with their amount). The split's number inputs become sliders that keep their sum at 100:
// moving one shares the difference among the others in proportion to what each has above its
// minimum. Each slider shows what it gives in money ("$3.20 to Loud Weather").
function percentOf(input) {
  return parseInt(input.value, 10) || 0;
}

function minimumOf(input) {
  return parseInt(input.min, 10) || 0;
}

function rebalance(group, changed) {
  const others = group.filter((input) => input !== changed);
  const floor = others.reduce((sum, input) => sum + minimumOf(input), 0);
  const value = Math.max(minimumOf(changed), Math.min(percentOf(changed), 100 - floor));
  changed.value = value;
  if (!others.length) return;
  const spare = 100 - value - floor;
  const weights = others.map((input) => Math.max(0, percentOf(input) - minimumOf(input)));
  const weight = weights.reduce((sum, w) => sum + w, 0);
  const shares = weights.map((w) => Math.floor(weight ? (spare * w) / weight : spare / others.length));
  let left = spare - shares.reduce((sum, share) => sum + share, 0);
  for (let n = 0; left > 0; n = (n + 1) % others.length, left -= 1) shares[n] += 1;
  others.forEach((input, n) => { input.value = minimumOf(input) + shares[n]; });
}

function priceInCents(text) {
  const match = /^\s*([0-9]{1,9})(?:\.([0-9]{1,2}))?\s*$/.exec(text);
  if (!match) return 0;
  return parseInt(match[1], 10) * 100 + parseInt((match[2] || "0").padEnd(2, "0"), 10);
}

function startPayBox() {
  const form = document.querySelector("form.buy-form");
  if (!form) return;
  const amount = form.querySelector("#amount");
  form.querySelectorAll("button.preset").forEach((button) => {
    button.addEventListener("click", (event) => {
      event.preventDefault();
      amount.value = button.value;
      amount.dispatchEvent(new Event("input", { bubbles: true }));
      amount.focus();
    });
  });
  const fieldset = form.querySelector("fieldset[data-split]");
  if (!fieldset) return;
  const currency = fieldset.dataset.currency;
  const top = Array.from(fieldset.querySelectorAll('input[data-split-part="top"]'));
  const artists = Array.from(fieldset.querySelectorAll('input[data-split-part="artist"]'));
  top.concat(artists).forEach((input) => { input.type = "range"; });
  const byName = (name) => top.find((input) => input.name === name);
  const show = () => {
    const total = priceInCents(amount.value);
    const part = (name) => { const input = byName(name); return input ? Math.floor((total * percentOf(input)) / 100) : 0; };
    const cents = { split_charity: part("split_charity"), split_store: part("split_store") };
    cents.split_artists = total - cents.split_charity - cents.split_store;
    top.forEach((input) => {
      const text = formatMoney(cents[input.name], currency) + " to " + input.dataset.to;
      fieldset.querySelector('[data-amount-of="' + input.name + '"]').textContent = percentOf(input) + " %: " + text;
      input.setAttribute("aria-valuetext", percentOf(input) + " percent, " + text);
    });
    artists.forEach((input) => {
      const text = formatMoney(Math.floor((cents.split_artists * percentOf(input)) / 100), currency) + " to " +
        input.dataset.artist;
      fieldset.querySelector('[data-amount-of="' + input.name + '"]').textContent = percentOf(input) + " %: " + text;
      input.setAttribute("aria-valuetext", percentOf(input) + " percent, " + text);
    });
  };
  [top, artists].forEach((group) => {
    group.forEach((input) => {
      input.addEventListener("input", () => { rebalance(group, input); show(); });
    });
  });
  amount.addEventListener("input", show);
  // The server wrote each amount for the starting price (store/pack.html): read them rather
  // than call show() now, whose formatMoney would be the page's first Intl call (a long task
  // at load, see startCountdowns). The words appear once the fields are sliders (site.css).
  top.concat(artists).forEach((input) => {
    const words = fieldset.querySelector('[data-amount-of="' + input.name + '"]').textContent.trim();
    input.setAttribute("aria-valuetext", words.replace(" %: ", " percent, "));
  });
  fieldset.classList.add("sliders");
}

const FILE_STATE_LABELS = { pending: "waiting", copying: "copying", done: "in Dropbox", failed: "failed" };
// needs_space: the buyer's Dropbox is full; like needs_reconnect, it waits for the buyer (Retry).
const FINAL_STATES = new Set(["done", "failed", "needs_reconnect", "needs_space", "cancelled"]);
const STOPPED_STATES = new Set(["failed", "needs_reconnect", "needs_space", "cancelled"]);

function renderDelivery(box, data) {
  box.dataset.status = data.status;
  const summary = box.querySelector(".delivery-summary");
  const bar = box.querySelector("progress");
  bar.max = data.total || 1;
  bar.value = data.done;
  bar.textContent = data.done + " of " + data.total;
  bar.classList.toggle("done", data.status === "done");
  bar.classList.toggle("failed", STOPPED_STATES.has(data.status));
  summary.textContent = "";
  const strong = document.createElement("strong");
  if (data.status === "done") {
    // The done state, as the server renders it (dropbox/_delivery.html): where the music is.
    strong.className = "state-done";
    strong.textContent = "In your Dropbox";
    const open = document.createElement("a");
    open.className = "open-dropbox";
    open.href = box.dataset.openUrl;
    open.rel = "noopener";
    open.textContent = "open it";
    const hidden = document.createElement("span");
    hidden.className = "visually-hidden";
    hidden.textContent = " in Dropbox";
    open.append(hidden);
    summary.append(strong, " · ", open);
    let when = box.querySelector(".delivery-when");
    if (!when) {
      when = document.createElement("p");
      when.className = "delivery-when";
      summary.after(when);
    }
    when.textContent = data.total + " " + (box.dataset.label || "") + " files in ";
    data.folders.forEach((folder, i) => {
      const code = document.createElement("code");
      code.textContent = box.dataset.appFolder + folder;
      when.append(code, i < data.folders.length - 1 ? ", " : ".");
    });
    if (data.finished_ago) when.append(" Delivered " + data.finished_ago + ".");
  } else if (FINAL_STATES.has(data.status)) {
    strong.className = "state-failed";
    strong.textContent = data.error || "The delivery stopped.";
    summary.append(strong);
  } else if (data.stalled) {
    // No worker is moving it: say so rather than show a count that does not change.
    strong.className = "state-paused";
    strong.textContent = data.notice;
    summary.append(strong, " (" + data.done + " of " + data.total + " files so far)");
  } else {
    summary.textContent = "Adding " + data.format.toUpperCase() + " to your Dropbox: " + data.done + " of " +
      data.total + " files" + (data.status === "queued" ? " (starting)" : "") + "…";
  }
  const list = box.querySelector(".file-states");
  list.textContent = "";
  data.files.forEach((file) => {
    const li = document.createElement("li");
    const name = document.createElement("span");
    name.textContent = file.name;
    const state = document.createElement("span");
    state.className = "state-" + file.status;
    state.textContent = FILE_STATE_LABELS[file.status] || file.status;
    li.append(name, state);
    list.append(li);
  });
}

function pollDelivery(box) {
  const step = async () => {
    try {
      const res = await fetch(box.dataset.progressUrl, { headers: { Accept: "application/json" } });
      if (res.ok) {
        const data = await res.json();
        const wasFinal = FINAL_STATES.has(box.dataset.status);
        renderDelivery(box, data);
        if (FINAL_STATES.has(data.status)) {
          // Retry and reconnect buttons come from the server: reload once to show them.
          if (!wasFinal && data.status !== "done") window.location.reload();
          return;
        }
      }
    } catch (e) { /* a blip: try again */ }
    setTimeout(step, 1000);
  };
  setTimeout(step, 500);
}

function startDeliveries() {
  document.querySelectorAll(".delivery[data-progress-url]").forEach((box) => {
    if (!FINAL_STATES.has(box.dataset.status)) pollDelivery(box);
  });
}

function guardDoubleSubmit() {
  // A second click on a form that is on its way does nothing (the server is safe anyway).
  document.querySelectorAll("form").forEach((form) => {
    form.addEventListener("submit", () => {
      form.querySelectorAll("button[type=submit]").forEach((b) => { b.disabled = true; });
    });
  });
  // Coming back with the Back button restores the page as it was: enable the buttons again.
  window.addEventListener("pageshow", () => {
    document.querySelectorAll("button[type=submit]").forEach((b) => { b.disabled = false; });
  });
}

// The order page's format choice: the page is rendered in one format (the server remembers
// the choice in a cookie), so a change loads it again in the new one. Without this script,
// the form's Show button does the same.
function startFormatChoice() {
  document.querySelectorAll("form.format-choice").forEach((form) => {
    form.querySelectorAll("button[type=submit]").forEach((button) => { button.hidden = true; });
    form.querySelector("select").addEventListener("change", () => form.submit());
  });
}

document.addEventListener("DOMContentLoaded", () => {
  startFormatChoice();
  startCountdowns();
  startStats();
  startPayBox();
  startDeliveries();
  guardDoubleSubmit();
});
