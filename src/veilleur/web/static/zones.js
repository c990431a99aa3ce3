/* Veilleur zones: draws a camera's zones, lines and allowed directions over its image, and lets
   an administrator draw them (camera page). Coordinates are fractions of the image width and
   height (0..1, x right, y down), as in the configuration file. */
(function () {
  "use strict";
  const ZONE = "rgba(255, 196, 0, 0.95)";
  const ZONE_FILL = "rgba(255, 196, 0, 0.16)";
  const LINE = "rgba(0, 200, 255, 0.95)";
  const ARROW = "rgba(120, 255, 140, 0.95)";
  const SELECTED = "rgba(255, 90, 90, 1)";

  function fit(canvas) {
    const ratio = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(canvas.clientWidth * ratio));
    const h = Math.max(1, Math.round(canvas.clientHeight * ratio));
    if (canvas.width !== w || canvas.height !== h) {
      canvas.width = w;
      canvas.height = h;
    }
    return { w: w, h: h, ratio: ratio };
  }

  function arrow(ctx, x1, y1, x2, y2, colour, ratio) {
    const a = Math.atan2(y2 - y1, x2 - x1);
    const head = 12 * ratio;
    ctx.strokeStyle = colour;
    ctx.fillStyle = colour;
    ctx.lineWidth = 3 * ratio;
    ctx.beginPath();
    ctx.moveTo(x1, y1);
    ctx.lineTo(x2, y2);
    ctx.stroke();
    ctx.beginPath();
    ctx.moveTo(x2, y2);
    ctx.lineTo(x2 - head * Math.cos(a - 0.45), y2 - head * Math.sin(a - 0.45));
    ctx.lineTo(x2 - head * Math.cos(a + 0.45), y2 - head * Math.sin(a + 0.45));
    ctx.closePath();
    ctx.fill();
  }

  function label(ctx, text, x, y, colour, ratio) {
    ctx.font = (13 * ratio) + "px system-ui, sans-serif";
    const pad = 3 * ratio;
    const w = ctx.measureText(text).width + 2 * pad;
    ctx.fillStyle = "rgba(0, 0, 0, 0.65)";
    ctx.fillRect(x, y - 15 * ratio, w, 18 * ratio);
    ctx.fillStyle = colour;
    ctx.fillText(text, x + pad, y - 2 * ratio);
  }

  /* Draws `geometry` ({zones, lines}) on `canvas`; returns how many shapes were drawn. */
  function draw(canvas, geometry, extra) {
    const size = fit(canvas);
    const ctx = canvas.getContext("2d");
    const W = size.w, H = size.h, r = size.ratio;
    ctx.clearRect(0, 0, W, H);
    let shapes = 0;
    const selected = extra && extra.selected;
    Object.entries(geometry.zones || {}).forEach(function (entry) {
      const name = entry[0], zone = entry[1];
      const pts = zone.polygon || [];
      if (pts.length < 3) return;
      const isSel = selected && selected.type === "zone" && selected.name === name;
      ctx.beginPath();
      pts.forEach(function (p, i) {
        if (i === 0) ctx.moveTo(p[0] * W, p[1] * H); else ctx.lineTo(p[0] * W, p[1] * H);
      });
      ctx.closePath();
      ctx.fillStyle = ZONE_FILL;
      ctx.fill();
      ctx.lineWidth = (isSel ? 4 : 2.5) * r;
      ctx.strokeStyle = isSel ? SELECTED : ZONE;
      ctx.stroke();
      let cx = 0, cy = 0;
      pts.forEach(function (p) { cx += p[0]; cy += p[1]; });
      cx = cx / pts.length * W;
      cy = cy / pts.length * H;
      if (zone.direction) {
        const d = zone.direction;
        const len = Math.hypot(d[0] * W, d[1] * H) || 1;
        const L = Math.min(W, H) * 0.12;
        arrow(ctx, cx - d[0] * W / len * L / 2, cy - d[1] * H / len * L / 2,
          cx + d[0] * W / len * L / 2, cy + d[1] * H / len * L / 2, ARROW, r);
      }
      label(ctx, name, pts[0][0] * W + 4 * r, pts[0][1] * H + 18 * r, isSel ? SELECTED : ZONE, r);
      shapes += 1;
    });
    Object.entries(geometry.lines || {}).forEach(function (entry) {
      const name = entry[0], line = entry[1];
      const p = line.points;
      if (!p || p.length !== 2) return;
      const isSel = selected && selected.type === "line" && selected.name === name;
      ctx.beginPath();
      ctx.moveTo(p[0][0] * W, p[0][1] * H);
      ctx.lineTo(p[1][0] * W, p[1][1] * H);
      ctx.lineWidth = (isSel ? 4 : 3) * r;
      ctx.strokeStyle = isSel ? SELECTED : LINE;
      ctx.setLineDash([8 * r, 5 * r]);
      ctx.stroke();
      ctx.setLineDash([]);
      label(ctx, name + " (" + (line.forbidden_side || "both") + ")", p[0][0] * W + 4 * r,
        p[0][1] * H - 4 * r, isSel ? SELECTED : LINE, r);
      shapes += 1;
    });
    if (extra && extra.pending && extra.pending.length) {
      ctx.strokeStyle = SELECTED;
      ctx.fillStyle = SELECTED;
      ctx.lineWidth = 2 * r;
      ctx.beginPath();
      extra.pending.forEach(function (p, i) {
        if (i === 0) ctx.moveTo(p[0] * W, p[1] * H); else ctx.lineTo(p[0] * W, p[1] * H);
      });
      if (extra.hover) ctx.lineTo(extra.hover[0] * W, extra.hover[1] * H);
      ctx.stroke();
      extra.pending.forEach(function (p) {
        ctx.beginPath();
        ctx.arc(p[0] * W, p[1] * H, 4 * r, 0, 2 * Math.PI);
        ctx.fill();
      });
    }
    canvas.dataset.shapes = String(shapes);
    return shapes;
  }

  function geometryOf(canvas) {
    try { return JSON.parse(canvas.dataset.geometry || "{}"); } catch (e) { return {}; }
  }

  /* Read-only overlays (live wall). */
  function viewers() {
    document.querySelectorAll("canvas.overlay:not(.editing)").forEach(function (c) {
      draw(c, geometryOf(c));
    });
  }
  window.addEventListener("resize", viewers);
  document.addEventListener("veilleur:image", viewers);
  document.addEventListener("DOMContentLoaded", viewers);

  /* The editor (camera page). */
  function editor(root) {
    const canvas = root.querySelector("canvas.editing");
    const nameInput = root.querySelector("#shape-name");
    const hint = root.querySelector("#editor-hint");
    const list = root.querySelector("#shape-list");
    const result = root.querySelector("#save-result");
    const finish = root.querySelector("#finish-shape");
    const camera = root.dataset.camera;
    const geometry = geometryOf(canvas);
    geometry.zones = geometry.zones || {};
    geometry.lines = geometry.lines || {};
    let mode = null, pending = [], hover = null, selected = null;

    function redraw() { draw(canvas, geometry, { pending: pending, hover: hover, selected: selected }); }

    function freeName(prefix) {
      let i = 1;
      while (geometry.zones[prefix + i] || geometry.lines[prefix + i]) i += 1;
      return prefix + i;
    }
    function takeName(prefix) {
      const typed = (nameInput.value || "").trim();
      const name = typed || freeName(prefix);
      if (!/^[A-Za-z0-9_\-]+$/.test(name)) {
        setHint("A name may only use letters, digits, '_' and '-'.");
        return null;
      }
      return name;
    }
    function setHint(text) { hint.textContent = text; }

    function setMode(m) {
      mode = m;
      pending = [];
      hover = null;
      root.querySelectorAll("[data-mode]").forEach(function (b) {
        b.classList.toggle("active", b.dataset.mode === m);
      });
      finish.disabled = m !== "zone";
      canvas.classList.toggle("drawing", !!m);
      if (m === "zone") setHint("Click the corners of the zone in order; click the first corner again or press “Finish zone”.");
      else if (m === "line") setHint("Click the two ends of the line.");
      else if (m === "direction") {
        if (!selected || selected.type !== "zone") {
          setHint("Select a zone in the list first, then choose “Set allowed direction”.");
          mode = null;
        } else setHint("Click where movement starts, then where it goes, for zone " + selected.name + ".");
      } else setHint("Choose a tool, or select a shape in the list.");
      redraw();
    }

    function point(ev) {
      const rect = canvas.getBoundingClientRect();
      const x = Math.min(1, Math.max(0, (ev.clientX - rect.left) / rect.width));
      const y = Math.min(1, Math.max(0, (ev.clientY - rect.top) / rect.height));
      return [Math.round(x * 10000) / 10000, Math.round(y * 10000) / 10000];
    }

    function closeZone() {
      if (pending.length < 3) { setHint("A zone needs at least 3 corners."); return; }
      const name = takeName("zone");
      if (!name) return;
      const old = geometry.zones[name];
      geometry.zones[name] = { polygon: pending.slice(), direction: old ? old.direction || null : null };
      selected = { type: "zone", name: name };
      nameInput.value = "";
      setMode(null);
      listShapes();
      setHint("Zone " + name + " drawn. Save to apply it.");
    }

    canvas.addEventListener("click", function (ev) {
      if (!mode) return;
      const p = point(ev);
      if (mode === "zone") {
        if (pending.length >= 3) {
          const rect = canvas.getBoundingClientRect();
          const f = pending[0];
          if (Math.hypot((f[0] - p[0]) * rect.width, (f[1] - p[1]) * rect.height) < 12) { closeZone(); return; }
        }
        pending.push(p);
      } else if (mode === "line") {
        pending.push(p);
        if (pending.length === 2) {
          const name = takeName("line");
          if (!name) { pending = []; return; }
          geometry.lines[name] = { points: pending.slice(), forbidden_side: "both" };
          selected = { type: "line", name: name };
          nameInput.value = "";
          setMode(null);
          listShapes();
          setHint("Line " + name + " drawn. Save to apply it.");
          return;
        }
      } else if (mode === "direction") {
        pending.push(p);
        if (pending.length === 2) {
          const d = [pending[1][0] - pending[0][0], pending[1][1] - pending[0][1]];
          if (Math.hypot(d[0], d[1]) < 0.01) { pending = []; setHint("Drag a longer arrow."); return; }
          geometry.zones[selected.name].direction = [Math.round(d[0] * 1000) / 1000, Math.round(d[1] * 1000) / 1000];
          setMode(null);
          listShapes();
          setHint("Allowed direction of " + selected.name + " set. Save to apply it.");
          return;
        }
      }
      redraw();
    });
    canvas.addEventListener("mousemove", function (ev) {
      if (!mode || !pending.length) return;
      hover = point(ev);
      redraw();
    });
    canvas.addEventListener("dblclick", function (ev) {
      if (mode === "zone") { ev.preventDefault(); pending.pop(); closeZone(); }
    });
    document.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape") setMode(null);
      if (ev.key === "Enter" && mode === "zone" && document.activeElement !== nameInput) closeZone();
    });
    root.querySelectorAll("[data-mode]").forEach(function (b) {
      b.addEventListener("click", function () { setMode(mode === b.dataset.mode ? null : b.dataset.mode); });
    });
    finish.addEventListener("click", closeZone);
    root.querySelector("#cancel-shape").addEventListener("click", function () { setMode(null); });

    function listShapes() {
      list.innerHTML = "";
      function row(type, name, text, controls) {
        const li = document.createElement("li");
        li.dataset.type = type;
        li.dataset.name = name;
        if (selected && selected.type === type && selected.name === name) li.classList.add("selected");
        const b = document.createElement("button");
        b.type = "button";
        b.className = "link";
        b.textContent = (type === "zone" ? "Zone " : "Line ") + name;
        b.addEventListener("click", function () { selected = { type: type, name: name }; listShapes(); });
        li.appendChild(b);
        const span = document.createElement("span");
        span.className = "muted";
        span.textContent = " " + text + " ";
        li.appendChild(span);
        controls.forEach(function (c) { li.appendChild(c); });
        const del = document.createElement("button");
        del.type = "button";
        del.className = "small danger";
        del.textContent = "Delete";
        del.addEventListener("click", function () {
          if (type === "zone") delete geometry.zones[name]; else delete geometry.lines[name];
          selected = null;
          listShapes();
        });
        li.appendChild(del);
        list.appendChild(li);
      }
      Object.entries(geometry.zones).forEach(function (e) {
        const z = e[1];
        const controls = [];
        if (z.direction) {
          const clear = document.createElement("button");
          clear.type = "button";
          clear.className = "small";
          clear.textContent = "Remove direction";
          clear.addEventListener("click", function () { z.direction = null; listShapes(); });
          controls.push(clear);
        }
        row("zone", e[0], z.polygon.length + " corners" + (z.direction ? ", allowed direction set" : ""), controls);
      });
      Object.entries(geometry.lines).forEach(function (e) {
        const ln = e[1];
        const sel = document.createElement("select");
        ["both", "left", "right"].forEach(function (v) {
          const o = document.createElement("option");
          o.value = v;
          o.textContent = "forbidden crossing: " + v;
          if ((ln.forbidden_side || "both") === v) o.selected = true;
          sel.appendChild(o);
        });
        sel.addEventListener("change", function () { ln.forbidden_side = sel.value; redraw(); });
        row("line", e[0], "", [sel]);
      });
      if (!list.children.length) {
        const li = document.createElement("li");
        li.className = "muted";
        li.textContent = "No zone or line yet.";
        list.appendChild(li);
      }
      redraw();
    }

    root.querySelector("#save-geometry").addEventListener("click", function () {
      result.textContent = "Saving…";
      result.className = "";
      fetch("/api/cameras/" + encodeURIComponent(camera) + "/geometry", {
        method: "PUT",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": document.body.dataset.csrf },
        body: JSON.stringify({ zones: geometry.zones, lines: geometry.lines })
      }).then(function (r) {
        return r.json().then(function (body) { return { ok: r.ok, status: r.status, body: body }; });
      }).then(function (res) {
        if (res.ok) {
          result.textContent = "Saved; the camera's analysis restarted with these zones.";
          result.className = "ok";
          // Reload so the situation forms list the new zones and lines.
          setTimeout(function () { window.location.reload(); }, 900);
        } else {
          const detail = res.body.detail;
          result.className = "error";
          result.textContent = Array.isArray(detail)
            ? detail.map(function (p) { return (p.key || "") + ": " + (p.message || p.msg); }).join("; ")
            : String(detail);
        }
      }).catch(function (e) {
        result.className = "error";
        result.textContent = "Not saved: " + e;
      });
    });

    window.addEventListener("resize", redraw);
    document.addEventListener("veilleur:image", redraw);
    listShapes();
    setMode(null);
  }

  document.addEventListener("DOMContentLoaded", function () {
    const root = document.getElementById("zone-editor");
    if (root) editor(root);
  });
  window.veilleurZones = { draw: draw };
})();
