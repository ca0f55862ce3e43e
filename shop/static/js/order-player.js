// The order page's player: one <audio> for every bought track, in the page's order.
// Progressive enhancement: without this file the <audio> plays the first track with the
// browser's own controls and each track's Play link opens that track's stream.
"use strict";

function clock(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) seconds = 0;
  const whole = Math.floor(seconds);
  const h = Math.floor(whole / 3600), m = Math.floor((whole % 3600) / 60), s = whole % 60;
  const pad = (n) => String(n).padStart(2, "0");
  return (h ? h + ":" + pad(m) : String(m)) + ":" + pad(s);
}

function startOrderPlayer() {
  const box = document.querySelector("[data-player]");
  if (!box) return;
  const audio = box.querySelector("audio");
  const controls = box.querySelector("[data-player-controls]");
  const toggle = box.querySelector("[data-player-toggle]");
  const prev = box.querySelector("[data-player-prev]");
  const next = box.querySelector("[data-player-next]");
  const seek = box.querySelector("[data-player-seek]");
  const time = box.querySelector("[data-player-time]");
  const nowTitle = box.querySelector("[data-now-title]");
  const nowArtist = box.querySelector("[data-now-artist]");
  const links = Array.from(document.querySelectorAll("a.play[data-play]"));
  if (!audio || !links.length) return;

  let current = 0;
  let seeking = false;
  box.classList.add("enhanced");
  audio.removeAttribute("controls");
  controls.hidden = false;

  const showTime = () => {
    const duration = Number.isFinite(audio.duration) ? audio.duration : 0;
    if (!seeking) seek.value = String(Math.floor(audio.currentTime));
    seek.max = String(Math.floor(duration));
    time.textContent = clock(audio.currentTime) + " / " + clock(duration);
    seek.setAttribute("aria-valuetext", clock(audio.currentTime) + " of " + clock(duration));
  };
  const showState = () => {
    const playing = !audio.paused && !audio.ended;
    // The name says what a press does (no aria-pressed: a name that changes is the state).
    toggle.textContent = playing ? "Pause" : "Play";
    next.disabled = current >= links.length - 1;
  };
  const select = (index, play) => {
    current = Math.max(0, Math.min(index, links.length - 1));
    const link = links[current];
    links.forEach((other) => { other.removeAttribute("aria-current"); });
    link.setAttribute("aria-current", "true");
    nowTitle.textContent = link.dataset.title;
    nowArtist.textContent = link.dataset.artist;
    if (audio.getAttribute("src") !== link.getAttribute("href")) {
      audio.src = link.getAttribute("href");
      seek.value = "0";
    }
    if (play) audio.play().catch(() => { /* the browser refused to start: the buttons still work */ });
    showTime();
    showState();
  };

  links.forEach((link, index) => {
    link.setAttribute("role", "button");
    link.addEventListener("click", (event) => {
      event.preventDefault();
      if (index === current && !audio.paused) audio.pause();
      else select(index, true);
    });
    // A link answers Enter only; as a button it answers Space too.
    link.addEventListener("keydown", (event) => {
      if (event.key === " ") { event.preventDefault(); link.click(); }
    });
  });
  toggle.addEventListener("click", () => {
    if (audio.paused) select(current, true);
    else audio.pause();
  });
  prev.addEventListener("click", () => {
    if (audio.currentTime >= 3 || current === 0) { audio.currentTime = 0; showTime(); showState(); }
    else select(current - 1, !audio.paused);
  });
  next.addEventListener("click", () => { if (current < links.length - 1) select(current + 1, !audio.paused); });
  seek.addEventListener("input", () => {
    seeking = true;
    time.textContent = clock(Number(seek.value)) + " / " + clock(audio.duration);
  });
  seek.addEventListener("change", () => {
    seeking = false;
    if (Number.isFinite(audio.duration)) audio.currentTime = Number(seek.value);
    showTime();
  });
  ["timeupdate", "durationchange", "loadedmetadata"].forEach((name) => audio.addEventListener(name, showTime));
  ["play", "pause", "emptied"].forEach((name) => audio.addEventListener(name, showState));
  audio.addEventListener("ended", () => {
    if (current < links.length - 1) select(current + 1, true);
    else showState();
  });
  audio.addEventListener("error", () => {
    time.textContent = "Could not play this track";
    showState();
  });
  select(0, false);
}

document.addEventListener("DOMContentLoaded", startOrderPlayer);
