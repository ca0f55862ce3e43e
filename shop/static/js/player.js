// The pack page's player: one <audio> for the whole page. Progressive enhancement: without
// this file every track has a link to its preview clip; with it, each link becomes a play
// button, and the player bar (now playing, previous / play-pause / next, position and time)
// appears at the bottom of the window. The pack's tracks play in page order, one after another.
//
// Keyboard: every control is a native <button> (Tab to it, Space or Enter to press it); the
// position slider takes the arrow keys, Home and End. No page-wide shortcuts, so typing in the
// pay box never starts the music.
"use strict";

function clockTime(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return "0:00";
  const s = Math.floor(seconds);
  return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
}

function startPlayer() {
  const player = document.querySelector("[data-player]");
  const links = Array.from(document.querySelectorAll("a[data-preview]"));
  if (!player || !links.length) return;
  const audio = player.querySelector("audio");
  const toggle = player.querySelector("[data-toggle]");
  const previous = player.querySelector("[data-previous]");
  const next = player.querySelector("[data-next]");
  const seek = player.querySelector("[data-seek]");
  const elapsed = player.querySelector("[data-elapsed]");
  const total = player.querySelector("[data-total]");
  const nowTitle = player.querySelector("[data-now-title]");
  const nowArtist = player.querySelector("[data-now-artist]");
  const announce = player.querySelector("[data-announce]");

  const tracks = links.map((link, index) => {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "play-button";
    const icon = document.createElement("span");
    icon.className = "play-icon";
    icon.setAttribute("aria-hidden", "true");
    button.append(icon);
    const track = {
      src: link.href, title: link.dataset.title, artist: link.dataset.artist, album: link.dataset.album,
      button, row: link.closest("li"),
    };
    button.setAttribute("aria-label", "Play " + track.title);
    button.addEventListener("click", () => choose(index));
    link.replaceWith(button);
    return track;
  });
  let current = -1;

  function show() {
    const playing = current >= 0 && !audio.paused && !audio.ended;
    tracks.forEach((track, index) => {
      const mine = index === current;
      const on = mine && playing;
      track.button.setAttribute("aria-label", (on ? "Pause " : "Play ") + track.title);
      track.button.classList.toggle("is-playing", on);
      if (track.row) track.row.classList.toggle("is-current", mine);
    });
    toggle.setAttribute("aria-label", playing ? "Pause" : "Play");
    toggle.classList.toggle("is-playing", playing);
  }

  function showTime() {
    const duration = Number.isFinite(audio.duration) ? audio.duration : 0;
    elapsed.textContent = clockTime(audio.currentTime);
    total.textContent = clockTime(duration);
    seek.max = String(Math.floor(duration));
    seek.value = String(Math.floor(audio.currentTime));
    seek.setAttribute("aria-valuetext", clockTime(audio.currentTime) + " of " + clockTime(duration));
  }

  function load(index) {
    current = index;
    const track = tracks[index];
    audio.src = track.src;
    nowTitle.textContent = track.title;
    nowArtist.textContent = track.artist + " · " + track.album;
    announce.textContent = "Now playing: " + track.title + " by " + track.artist;
    showTime();
  }

  function play() {
    const started = audio.play();
    if (started && started.catch) started.catch(() => { show(); });
  }

  // A track's own button: play it, or pause / resume it when it is the one loaded.
  function choose(index) {
    if (index === current) {
      if (audio.paused) play(); else audio.pause();
      return;
    }
    load(index);
    play();
  }

  function step(by) {
    const index = current < 0 ? 0 : current + by;
    if (index < 0) {
      audio.currentTime = 0;
      return;
    }
    if (index >= tracks.length) return;
    load(index);
    play();
  }

  toggle.addEventListener("click", () => {
    if (current < 0) { choose(0); return; }
    if (audio.paused) play(); else audio.pause();
  });
  previous.addEventListener("click", () => step(-1));
  next.addEventListener("click", () => step(1));
  seek.addEventListener("input", () => {
    if (current >= 0 && Number.isFinite(audio.duration)) audio.currentTime = Number(seek.value);
  });
  audio.addEventListener("play", show);
  audio.addEventListener("pause", show);
  audio.addEventListener("timeupdate", showTime);
  audio.addEventListener("durationchange", showTime);
  audio.addEventListener("loadedmetadata", showTime);
  audio.addEventListener("ended", () => {
    if (current + 1 < tracks.length) step(1);
    else { show(); announce.textContent = "End of the pack's previews."; }
  });
  audio.addEventListener("error", () => {
    if (current < 0) return;
    announce.textContent = "The preview of " + tracks[current].title + " could not be played.";
    show();
  });

  player.hidden = false;
  show();
}

document.addEventListener("DOMContentLoaded", startPlayer);
