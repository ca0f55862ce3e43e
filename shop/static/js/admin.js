// The console works without this file; it asks before actions, submits the pack picker,
// uploads album masters with a progress bar, and keeps a pack's progress up to date.
"use strict";

document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form instanceof HTMLFormElement ? form.dataset.confirm : undefined;
  if (question && !window.confirm(question)) event.preventDefault();
});

// site.js enables every submit button on "pageshow" (after Back); the console's buttons that the
// server disabled (an action that cannot be done now) stay disabled.
// This file loads before site.js, so its listener runs first: wait for site.js's to have run.
window.addEventListener("pageshow", () => {
  window.setTimeout(() => {
    document.querySelectorAll("button[data-keep-disabled]").forEach((button) => { button.disabled = true; });
  }, 0);
});

document.querySelectorAll("form[data-autosubmit] select").forEach((select) => {
  select.addEventListener("change", () => select.form.submit());
});

// The pack page's progress: polled while something is under way (encoding, a seed job), and
// once after an upload; the server renders the fragment, this swaps it in.
const progressBox = document.getElementById("pack-progress");
let pollTimer = null;

function pollProgress() {
  if (!progressBox) return;
  window.clearTimeout(pollTimer);
  fetch(progressBox.dataset.progressUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
    .then((response) => (response.ok ? response.json() : Promise.reject(new Error(response.statusText))))
    .then((data) => {
      progressBox.innerHTML = data.html;
      progressBox.dataset.busy = data.busy ? "true" : "false";
      const state = document.getElementById("pack-state");
      if (state) state.textContent = data.state;
      const putOnSale = document.querySelector('form[action$="/put-on-sale"] button');
      if (putOnSale) {
        putOnSale.disabled = data.missing.length > 0 || data.state === "on sale" || data.state === "ended";
        putOnSale.toggleAttribute("data-keep-disabled", putOnSale.disabled);
      }
      if (data.busy) pollTimer = window.setTimeout(pollProgress, Number(progressBox.dataset.pollMs) || 2000);
    })
    .catch(() => {
      pollTimer = window.setTimeout(pollProgress, 4 * (Number(progressBox.dataset.pollMs) || 2000));
    });
}

if (progressBox && progressBox.dataset.busy === "true") {
  pollTimer = window.setTimeout(pollProgress, Number(progressBox.dataset.pollMs) || 2000);
}

// Uploads: XHR for its upload progress events; the CSRF token goes in a header, because
// the server checks it before it reads the (large) body's fields.
document.querySelectorAll("form[data-upload]").forEach((form) => {
  const bar = form.querySelector("progress");
  const status = form.querySelector(".upload-status");
  const button = form.querySelector('button[type="submit"]');
  const say = (text, isError) => {
    status.textContent = text;
    status.classList.toggle("error", Boolean(isError));
  };
  form.addEventListener("submit", (event) => {
    if (event.defaultPrevented) return;
    event.preventDefault();
    const data = new FormData(form);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("X-CSRFToken", form.querySelector('input[name="csrf_token"]').value);
    xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
    xhr.setRequestHeader("Accept", "application/json");
    xhr.responseType = "json";
    bar.hidden = false;
    bar.value = 0;
    bar.classList.remove("done", "failed");
    button.disabled = true;
    say("Uploading…");
    xhr.upload.addEventListener("progress", (e) => {
      if (!e.lengthComputable) return;
      bar.max = e.total;
      bar.value = e.loaded;
      const percent = Math.floor((100 * e.loaded) / e.total);
      say(percent < 100 ? `Uploading… ${percent} %` : "Uploaded. Importing (reading every master)…");
    });
    xhr.addEventListener("load", () => {
      button.disabled = false;
      const answer = xhr.response || {};
      if (xhr.status === 200 && answer.ok) {
        bar.classList.add("done");
        let text = `Imported: ${answer.summary}`;
        if (answer.queue_unavailable) text += " The queue is unavailable: the encodes wait for the worker's sweep.";
        else if (answer.tracks_to_encode) text += ` ${answer.tracks_to_encode} track(s) queued for encoding.`;
        say(text);
        form.reset();
        pollProgress();
      } else {
        bar.classList.add("failed");
        say(`Upload refused: ${answer.error || xhr.statusText || "the server did not answer"}`, true);
      }
    });
    xhr.addEventListener("error", () => {
      button.disabled = false;
      bar.classList.add("failed");
      say("The upload stopped: the connection was lost. Try again.", true);
    });
    xhr.send(data);
  });
});
