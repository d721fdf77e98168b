"""The Annotate tab's main canvas: clicks, brush strokes and lasso outlines drawn in the browser.

The picture stays a plain ``gr.Image``; a small script (:data:`CANVAS_JS`) draws strokes, the lasso
and the brush cursor on an overlay in the browser as the hand moves (no server round trip per mouse
move), zooms (wheel) and pans (right or middle drag, or the "pan" tool), and sends the server only
the finished action as a few numbers in image pixels. Actions drawn while the server is busy queue
in the browser and are sent in order, so none is dropped; each one the session refuses is named in a
warning, and the canvas still shows the current labels.
"""

from __future__ import annotations

import json
import math

from ..annotation import BRUSH_ACTIONS, MAX_BRUSH_RADIUS, MODES

#: What a drag on the canvas does: a brush action of the session, the lasso, or panning.
DRAG_TOOLS = {"merge stroke": "merge", "lasso": "lasso", "paint a new region": "new",
              "paint into the selected region": "grow", "erase (unlabelled)": "erase", "pan": "pan"}
#: Default brush radius in image pixels (the simulated annotator's brush: 10 px across).
BRUSH_RADIUS = 5
#: Most actions and points one message may carry (a browser sends a few; more is not a person).
MAX_ACTIONS = 64
MAX_POINTS = 20_000


def parse_actions(payload: str | None) -> list[dict]:
    """Decode and check the browser's queued canvas actions.

    Parameters
    ----------
    payload : JSON list of actions, each ``{"kind": "click", "x", "y", "mode", "negative"}``,
        ``{"kind": "stroke", "action", "points": [[x, y], ...], "radius"}`` or
        ``{"kind": "lasso", "points": [[x, y], ...]}``, coordinates in image pixels.

    Returns
    -------
    The actions, in the order drawn.

    Raises
    ------
    ValueError
        Naming what is malformed; nothing has been applied.
    """
    try:
        actions = json.loads(payload or "[]")
    except json.JSONDecodeError as err:
        raise ValueError(f"The canvas sent malformed data ({err.msg}).") from None
    if not isinstance(actions, list) or len(actions) > MAX_ACTIONS:
        raise ValueError(f"The canvas sends a list of at most {MAX_ACTIONS} actions.")
    for a in actions:
        kind = a.get("kind") if isinstance(a, dict) else None
        if kind == "click":
            _check_point((a.get("x"), a.get("y")))
            if a.get("mode") not in MODES:
                raise ValueError(f"Unknown click mode {a.get('mode')!r}.")
        elif kind in ("stroke", "lasso"):
            pts = a.get("points")
            if not isinstance(pts, list) or not 1 <= len(pts) <= MAX_POINTS:
                raise ValueError(f"A {kind} needs 1 to {MAX_POINTS} points.")
            for p in pts:
                _check_point(p)
            if kind == "stroke":
                if a.get("action") not in BRUSH_ACTIONS:
                    raise ValueError(f"Unknown brush action {a.get('action')!r}.")
                r = a.get("radius")
                if not isinstance(r, (int, float)) or not 0.5 <= r <= MAX_BRUSH_RADIUS:
                    raise ValueError(f"The brush radius must be between 0.5 and {MAX_BRUSH_RADIUS} px.")
        else:
            raise ValueError(f"Unknown canvas action {kind!r}.")
    return actions


def _check_point(p) -> None:
    if (not isinstance(p, (list, tuple)) or len(p) != 2
            or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in p)):
        raise ValueError(f"A canvas point is two finite numbers, not {p!r}.")


def describe(action: dict) -> str:
    """A few words naming an action for a message ("the merge stroke", "the click at (12, 40)")."""
    if action["kind"] == "click":
        return f"the click at ({int(action['x'])}, {int(action['y'])})"
    if action["kind"] == "lasso":
        return "the lasso"
    return f"the {next(k for k, v in DRAG_TOOLS.items() if v == action['action'])}"


# Installed once per page (Blocks.load). Pixel mapping allows for the image's letterboxing
# (object-fit) and the zoom transform, like bench.browser.click_pixel.
CANVAS_JS = """
() => {
  if (window.casCanvas) return;
  const S = {queue: [], zoom: 1, px: 0, py: 0, down: null, path: [], pending: [], space: false};
  window.casCanvas = S;
  S.take = () => { const q = S.queue.splice(0); S.pending.forEach(p => p.sent = true);
                   return JSON.stringify(q); };
  const host = () => document.getElementById('canvas');
  const img = () => { const h = host(); return h && h.querySelector('.image-frame img'); };
  const frame = () => { const h = host(); return h && h.querySelector('.image-frame'); };
  const checked = (id) => { const i = document.querySelector('#' + id + ' input:checked'); return i ? i.value : null; };
  const radius = () => { const i = document.querySelector('#brush-size input[type=number]');
                         const v = i ? parseFloat(i.value) : 5; return isFinite(v) && v > 0 ? v : 5; };
  const tool = () => checked('drag-tool') || 'merge stroke';
  const TOOLS = %TOOLS%;
  function geom() {
    const el = img(); if (!el || !el.naturalWidth) return null;
    const r = el.getBoundingClientRect(), nw = el.naturalWidth, nh = el.naturalHeight;
    let s = Math.min(r.width / nw, r.height / nh);
    if (getComputedStyle(el).objectFit === 'scale-down') s = Math.min(s, S.zoom);
    return {s, left: r.left + (r.width - nw * s) / 2, top: r.top + (r.height - nh * s) / 2, nw, nh};
  }
  const toImage = (g, cx, cy) => [(cx - g.left) / g.s, (cy - g.top) / g.s];
  const toClient = (g, x, y) => [g.left + x * g.s, g.top + y * g.s];
  let overlay = null;
  function ctx() {
    if (!overlay) {
      overlay = document.createElement('canvas');
      overlay.id = 'canvas-overlay';
      Object.assign(overlay.style, {position: 'fixed', left: '0', top: '0', pointerEvents: 'none', zIndex: 50});
      document.body.appendChild(overlay);
    }
    if (overlay.width !== innerWidth || overlay.height !== innerHeight) {
      overlay.width = innerWidth; overlay.height = innerHeight;
    }
    return overlay.getContext('2d');
  }
  function drawPath(c, g, p) {
    if (!p.points.length) return;
    c.beginPath();
    p.points.forEach(([x, y], i) => { const [u, v] = toClient(g, x, y); i ? c.lineTo(u, v) : c.moveTo(u, v); });
    if (p.kind === 'lasso') { c.closePath(); c.lineWidth = 2; c.strokeStyle = '#00e5ff'; c.setLineDash([6, 4]); }
    else { c.lineWidth = Math.max(1, 2 * p.radius * g.s); c.strokeStyle = 'rgba(255, 230, 0, 0.6)'; c.setLineDash([]); }
    c.lineCap = c.lineJoin = 'round';
    c.stroke();
  }
  function redraw(cursor) {
    const c = ctx(); c.clearRect(0, 0, overlay.width, overlay.height);
    const g = geom(); if (!g) return;
    S.pending.forEach(p => drawPath(c, g, p));
    if (S.path.length) drawPath(c, g, S.path.at(-1));
    if (cursor && TOOLS[tool()] !== 'lasso' && TOOLS[tool()] !== 'pan') {
      c.beginPath(); c.setLineDash([]); c.lineWidth = 1.5; c.strokeStyle = '#ff00ff';
      c.arc(cursor[0], cursor[1], Math.max(2, radius() * g.s), 0, 2 * Math.PI); c.stroke();
    }
  }
  function applyView() {
    const f = frame(); if (!f) return;
    f.style.touchAction = 'none';  // a finger or pen draws on the picture instead of scrolling the page
    f.style.transformOrigin = '0 0';
    f.style.transform = `translate(${S.px}px, ${S.py}px) scale(${S.zoom})`;
    redraw();
  }
  S.reset = () => { S.zoom = 1; S.px = 0; S.py = 0; applyView(); };
  function send(action) {
    S.queue.push(action);
    S.flush();
  }
  S.flush = () => { if (!S.queue.length) return; const b = document.getElementById('canvas-send'); if (b) b.click(); };
  const inside = (e) => { const h = host(); if (!h || !img()) return false;
    if (e.target.closest && e.target.closest('.icon-button-wrapper')) return false;
    const r = h.querySelector('.image-container').getBoundingClientRect();
    return e.clientX >= r.left && e.clientX <= r.right && e.clientY >= r.top && e.clientY <= r.bottom; };
  document.addEventListener('contextmenu', (e) => { if (inside(e)) e.preventDefault(); }, true);
  document.addEventListener('keydown', (e) => { if (e.code === 'Space' && S.down === null) S.space = true; });
  document.addEventListener('keyup', (e) => { if (e.code === 'Space') S.space = false; });
  document.addEventListener('pointerdown', (e) => {
    if (!inside(e)) return;
    e.preventDefault(); e.stopPropagation();
    const g = geom(); if (!g) return;
    const pan = e.button !== 0 || S.space || TOOLS[tool()] === 'pan';
    S.down = {x: e.clientX, y: e.clientY, pan, moved: false, px: S.px, py: S.py, shift: e.shiftKey};
    const kind = TOOLS[tool()] === 'lasso' ? 'lasso' : 'stroke';
    if (!pan) S.path.push({kind, action: TOOLS[tool()], radius: radius(), points: [toImage(g, e.clientX, e.clientY)]});
  }, true);
  document.addEventListener('pointermove', (e) => {
    if (S.down === null) { if (inside(e)) redraw([e.clientX, e.clientY]); else if (overlay) redraw(); return; }
    const d = S.down;
    if (Math.hypot(e.clientX - d.x, e.clientY - d.y) > 4) d.moved = true;
    if (d.pan) { S.px = d.px + e.clientX - d.x; S.py = d.py + e.clientY - d.y; applyView(); return; }
    const g = geom(); if (!g) return;
    S.path.at(-1).points.push(toImage(g, e.clientX, e.clientY));
    redraw([e.clientX, e.clientY]);
  }, true);
  document.addEventListener('pointerup', (e) => {
    const d = S.down; if (d === null) return;
    S.down = null; e.preventDefault(); e.stopPropagation();
    if (d.pan) return;
    const p = S.path.pop(); if (!p) return;
    const round = (q) => [Math.round(q[0] * 10) / 10, Math.round(q[1] * 10) / 10];
    if (!d.moved) {
      const [x, y] = p.points[0];
      send({kind: 'click', x: Math.floor(x), y: Math.floor(y), mode: checked('click-mode'),
            negative: d.shift || (checked('click-sign') || '').startsWith('negative')});
    } else if (p.kind === 'lasso') {
      S.pending.push(p); send({kind: 'lasso', points: p.points.map(round)});
    } else {
      S.pending.push(p); send({kind: 'stroke', action: p.action, radius: p.radius, points: p.points.map(round)});
    }
    redraw();
  }, true);
  // Gradio's own click handling on the picture is replaced by the above.
  document.addEventListener('click', (e) => { if (inside(e)) { e.preventDefault(); e.stopPropagation(); } }, true);
  document.addEventListener('wheel', (e) => {
    if (!inside(e)) return;
    e.preventDefault();
    const f = frame(); if (!f) return;
    const r = f.getBoundingClientRect(), left = r.left - S.px, top = r.top - S.py;
    const z = Math.min(16, Math.max(1, S.zoom * Math.exp(-e.deltaY * 0.0015)));
    S.px = e.clientX - left - z * (e.clientX - left - S.px) / S.zoom;
    S.py = e.clientY - top - z * (e.clientY - top - S.py) / S.zoom;
    S.zoom = z;
    if (z === 1) { S.px = 0; S.py = 0; }
    applyView();
  }, {capture: true, passive: false});
  // A new picture from the server replaces the strokes it answered; those not yet sent stay drawn.
  document.addEventListener('load', (e) => {
    if (e.target.tagName === 'IMG' && host() && host().contains(e.target)) {
      S.pending = S.pending.filter(p => !p.sent); applyView();
    }
  }, true);
  addEventListener('resize', () => redraw());
  addEventListener('scroll', () => redraw(), true);
}
""".replace("%TOOLS%", json.dumps(DRAG_TOOLS))
