/* Veilleur console: live images, the live signal stream (visual and sound cue), small helpers.
   No framework beyond htmx; everything is served by the Veilleur server itself (offline). */
(function () {
  "use strict";
  const body = document.body;
  const csrf = body.dataset.csrf || "";
  const liveMs = parseInt(body.dataset.liveMs || "1000", 10);
  const state = { signalsReceived: 0, lastSignal: null, streamOpen: false, furtherReceived: 0 };
  window.veilleur = state;

  /* --- forms: confirmation and submit-on-change, as data attributes rather than inline
     handlers, which the Content-Security-Policy (script-src 'self') does not run. */
  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm && !confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  }, true);
  document.addEventListener("change", function (event) {
    const field = event.target;
    if (field instanceof HTMLElement && field.hasAttribute("data-autosubmit") && field.form) {
      field.form.submit();
    }
  });

  /* --- live images: reload each one after the previous load ended, so a slow link never
     piles up requests; a failed load shows "waiting" and retries. */
  function startLiveImage(img) {
    const every = parseInt(img.dataset.every || String(liveMs), 10);
    const stage = img.closest(".stage");
    let timer = null;
    function next(delay) {
      clearTimeout(timer);
      timer = setTimeout(load, delay);
    }
    function load() {
      if (!document.body.contains(img)) return;
      if (document.hidden) { next(every); return; }
      img.src = img.dataset.src + "?t=" + Date.now();
    }
    img.addEventListener("load", function () {
      if (stage) stage.classList.add("has-image");
      img.dispatchEvent(new CustomEvent("veilleur:image", { bubbles: true }));
      next(every);
    });
    img.addEventListener("error", function () {
      if (stage) stage.classList.remove("has-image");
      next(Math.max(every, 2000));
    });
    load();
  }
  document.querySelectorAll("img.live[data-src]").forEach(startLiveImage);

  /* --- sound cue: a short two-tone chime made with WebAudio (no audio file). Browsers only let
     a page play sound after a click or key press on it, so the context is resumed on the first
     one. */
  let audio = null;
  let soundOn = localStorage.getItem("veilleur.sound") !== "off";
  const soundButton = document.getElementById("sound-toggle");
  function showSound() {
    if (soundButton) soundButton.textContent = "Sound: " + (soundOn ? "on" : "off");
  }
  showSound();
  function audioContext() {
    if (!audio && (window.AudioContext || window.webkitAudioContext)) {
      audio = new (window.AudioContext || window.webkitAudioContext)();
    }
    return audio;
  }
  function unlock() {
    const ctx = audioContext();
    if (ctx && ctx.state === "suspended") ctx.resume();
  }
  document.addEventListener("click", unlock, { once: true });
  document.addEventListener("keydown", unlock, { once: true });
  if (soundButton) {
    soundButton.addEventListener("click", function () {
      soundOn = !soundOn;
      localStorage.setItem("veilleur.sound", soundOn ? "on" : "off");
      showSound();
      if (soundOn) chime();
    });
  }
  function chime() {
    if (!soundOn) return;
    const ctx = audioContext();
    if (!ctx) return;
    const t0 = ctx.currentTime;
    [[880, 0], [1175, 0.16]].forEach(function (pair) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = "sine";
      osc.frequency.value = pair[0];
      gain.gain.setValueAtTime(0.0001, t0 + pair[1]);
      gain.gain.exponentialRampToValueAtTime(0.25, t0 + pair[1] + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t0 + pair[1] + 0.3);
      osc.connect(gain).connect(ctx.destination);
      osc.start(t0 + pair[1]);
      osc.stop(t0 + pair[1] + 0.32);
    });
    state.chimes = (state.chimes || 0) + 1;
  }

  /* --- toast and badge */
  const toast = document.getElementById("toast");
  let toastTimer = null;
  function say(text) {
    if (!toast) return;
    toast.textContent = text;
    toast.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { toast.hidden = true; }, 6000);
  }
  const badge = document.getElementById("new-count");
  let unseen = 0;
  function bumpBadge() {
    if (!badge) return;
    unseen += 1;
    badge.textContent = String(unseen);
    badge.hidden = false;
  }

  /* --- the signal queue: a new card is fetched (rendered by the server for this role) and put
     on top with a highlight. */
  const list = document.getElementById("signal-list");
  function matches(sig) {
    if (!list || list.dataset.live !== "on") return false;
    const f = list.dataset;
    return (!f.filterCamera || f.filterCamera === sig.camera) &&
      (!f.filterSituation || f.filterSituation === sig.situation) &&
      (!f.filterState || f.filterState === sig.state);
  }
  function fetchCard(id) {
    return fetch("/signals/" + id + "/card", { headers: { "HX-Request": "true" }, credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.text(); })
      .then(function (html) {
        const tpl = document.createElement("template");
        tpl.innerHTML = html.trim();
        return tpl.content.firstElementChild;
      });
  }
  function insertCard(sig) {
    if (document.getElementById("signal-" + sig.id)) return;
    fetchCard(sig.id).then(function (card) {
      if (!card || document.getElementById("signal-" + sig.id)) return;
      const empty = list.querySelector(".empty");
      if (empty) empty.remove();
      list.prepend(card);
      if (window.htmx) window.htmx.process(card);
      setTimeout(function () { card.classList.remove("fresh"); }, 8000);
    }).catch(function () { /* the next reload shows it */ });
  }
  function replaceCard(sig, highlight) {
    const old = document.getElementById("signal-" + sig.id);
    if (!old) return;
    fetchCard(sig.id).then(function (card) {
      const current = document.getElementById("signal-" + sig.id);
      if (!card || !current) return;
      if (!highlight) card.classList.remove("fresh");
      /* A further event re-renders an unqualified card: the comment the operator is typing
         there, and the focus, must survive it. */
      const typing = current.querySelector("textarea[name=comment]");
      const fresh = card.querySelector("textarea[name=comment]");
      const focused = typing && document.activeElement === typing;
      if (typing && fresh && typing.value) fresh.value = typing.value;
      current.replaceWith(card);
      if (focused && fresh) fresh.focus();
      if (window.htmx) window.htmx.process(card);
      if (highlight) setTimeout(function () { card.classList.remove("fresh"); }, 8000);
    }).catch(function () {});
  }
  const labels = {
    abandoned_object: "Abandoned object", weapon: "Weapon", wrong_way: "Wrong way",
    zone_intrusion: "Zone intrusion", person_on_ground: "Person on the ground",
    crowd_movement: "Crowd movement", excessive_density: "Excessive density",
    fire_start: "Fire start"
  };

  const liveState = document.getElementById("live-state");
  const storeState = document.getElementById("store-state");
  /* Why the stream dropped: /healthz answers 503 while the database is down (the server keeps
     the signals raised meanwhile and stores them when it answers again; the stream then
     catches up from Last-Event-ID), and nothing at all while the server itself is down. */
  function explainOutage() {
    if (!storeState) return;
    fetch("/healthz", { cache: "no-store" }).then(function (r) {
      if (r.status === 503) {
        storeState.textContent = "Database unreachable: new signals wait in the server and appear here when it answers again";
        storeState.hidden = false;
      } else if (state.streamOpen) {
        storeState.hidden = true;
      }
    }).catch(function () {
      storeState.textContent = "Server unreachable: reconnecting…";
      storeState.hidden = false;
    });
  }
  /* The newest signal this page has: a new stream opened after the browser gave one up
     starts after it (its own reconnects send Last-Event-ID instead). */
  function newestId() {
    let newest = state.lastId || 0;
    document.querySelectorAll(".signal-card[data-id]").forEach(function (card) {
      newest = Math.max(newest, parseInt(card.dataset.id, 10) || 0);
    });
    return newest;
  }
  function connect(after) {
    const source = new EventSource("/api/signals/stream" + (after ? "?after=" + after : ""));
    source.onopen = function () {
      state.streamOpen = true;
      if (liveState) { liveState.classList.add("up"); liveState.title = "Live signal stream connected"; }
      if (storeState) storeState.hidden = true;
    };
    source.onerror = function () {
      state.streamOpen = false;
      if (liveState) { liveState.classList.remove("up"); liveState.title = "Live signal stream reconnecting…"; }
      explainOutage();
      if (source.readyState === EventSource.CLOSED) {
        /* The browser does not retry after an answer other than 200 (the server could not
           check the session while its database was down): open a new stream later. */
        setTimeout(function () { connect(newestId()); }, 3000);
      }
    };
    source.addEventListener("signal", function (e) {
      const sig = JSON.parse(e.data);
      state.signalsReceived += 1;
      state.lastId = Math.max(state.lastId || 0, sig.id);
      state.lastSignal = sig;
      chime();
      bumpBadge();
      say("New signal: " + (labels[sig.situation] || sig.situation) + " on " + sig.camera +
        (sig.zone ? " (" + sig.zone + ")" : ""));
      if (matches(sig)) insertCard(sig);
    });
    source.addEventListener("review", function (e) {
      replaceCard(JSON.parse(e.data), false);
    });
    /* Another occurrence during a signal's cool-down: its card shows the new count and time
       (no new card, no chime: the operator is already on it, but it is said). */
    source.addEventListener("further_event", function (e) {
      const sig = JSON.parse(e.data);
      state.furtherReceived += 1;
      say((labels[sig.situation] || sig.situation) + " again on " + sig.camera +
        (sig.zone ? " (" + sig.zone + ")" : "") + ": signal #" + sig.id + " now has " +
        sig.further_count + " further event" + (sig.further_count > 1 ? "s" : ""));
      replaceCard(sig, true);
    });
  }
  if (csrf && window.EventSource) connect(0);
})();
