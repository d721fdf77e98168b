// The Annotate canvas: drawing, zoom and pan, installed once per page (Blocks.load). Served as
// the source of canvas.CANVAS_JS; %TOOLS% is replaced by the drag tools (canvas.drag_tools()).
() => {
  if (window.casCanvas) return;
  const S = {queue: [], zoom: 1, px: 0, py: 0, down: null, path: [], pending: [], space: false,
             gen: 0, labels: null, fetching: -1, previewTaken: 0, tint: null, tintKey: null};
  window.casCanvas = S;
  S.take = () => { const q = S.queue.splice(0); S.pending.forEach(p => p.sent = true);
                   return JSON.stringify(q); };
  const host = () => document.getElementById('canvas');
  const img = () => { const h = host(); return h && h.querySelector('.image-frame img'); };
  const frame = () => { const h = host(); return h && h.querySelector('.image-frame'); };
  const checked = (id) => { const i = document.querySelector('#' + id + ' input:checked'); return i ? i.value : null; };
  const radius = () => { const i = document.querySelector('#brush-size input[type=number]');
                         const v = i ? parseFloat(i.value) : 5; return isFinite(v) && v > 0 ? v : 5; };
  const TOOLS = %TOOLS%;
  const tool = () => checked('drag-tool') || Object.keys(TOOLS)[0];
  const draws = (label) => (TOOLS[label === undefined ? tool() : label] || {}).draws;
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
  // The lasso's preview. The label map (confirmed pixels marked) comes once per picture (gen counts
  // pictures); each move tints the pixels inside the outline that are not confirmed: what
  // Session.lasso takes on release.
  const lassoing = () => S.down !== null && !S.down.pan && S.path.length && S.path.at(-1).kind === 'lasso';
  S.labelsReady = () => !!S.labels && S.labels.gen === S.gen;  // the map of the picture shown
  S.wantLabels = () => {
    if (S.labelsReady() || S.fetching === S.gen) return;
    const b = document.getElementById('canvas-labels-fetch'); if (!b) return;
    S.fetching = S.gen; b.click();
  };
  // The answer is "gen|data URL", gen being the picture it was asked for.
  S.setLabels = (answer) => {
    const cut = (answer || '').indexOf('|'), gen = parseInt(answer.slice(0, cut), 10), url = answer.slice(cut + 1);
    if (gen === S.fetching) S.fetching = -1;
    if (cut < 0 || !url) return;
    const im = new Image();
    im.onload = () => {
      // A newer picture arrived while this map travelled: it may be the older map; ask again.
      if (gen !== S.gen) { if (lassoing() || draws() === 'lasso') S.wantLabels(); return; }
      const w = im.naturalWidth, h = im.naturalHeight;
      const cv = document.createElement('canvas'); cv.width = w; cv.height = h;
      const x = cv.getContext('2d', {willReadFrequently: true}); x.drawImage(im, 0, 0);
      const d = x.getImageData(0, 0, w, h).data, ids = new Uint16Array(w * h), locked = new Uint8Array(w * h);
      for (let i = 0, j = 0; i < ids.length; i++, j += 4) { ids[i] = d[j] | (d[j + 1] << 8); locked[i] = d[j + 2] >= 128; }
      S.labels = {gen, w, h, ids, locked};
      schedulePreview();
    };
    im.src = url;
  };
  let previewQueued = false;
  function schedulePreview() {
    if (previewQueued) return; previewQueued = true;
    requestAnimationFrame(() => { previewQueued = false; computePreview(); redraw(S.cursor); });
  }
  function computePreview() {
    const p = S.path.at(-1), L = S.labels;
    if (!lassoing() || !S.labelsReady() || p.points.length < 3) return;
    const pts = p.points.map(([x, y]) => [Math.floor(x) + 0.5, Math.floor(y) + 0.5]);
    const xs = pts.map(q => q[0]), ys = pts.map(q => q[1]);
    const x0 = Math.max(0, Math.floor(Math.min(...xs))), x1 = Math.min(L.w, Math.ceil(Math.max(...xs)) + 1);
    const y0 = Math.max(0, Math.floor(Math.min(...ys))), y1 = Math.min(L.h, Math.ceil(Math.max(...ys)) + 1);
    const bw = x1 - x0, bh = y1 - y0;
    if (bw <= 0 || bh <= 0) return;
    S.poly = S.poly || document.createElement('canvas');
    S.poly.width = bw; S.poly.height = bh;
    const c = S.poly.getContext('2d', {willReadFrequently: true});
    c.translate(-x0, -y0); c.beginPath();
    pts.forEach(([x, y], i) => i ? c.lineTo(x, y) : c.moveTo(x, y)); c.closePath();
    // Filled and outlined: cv2.fillPoly on the server counts the outline's own pixels as inside.
    c.fillStyle = c.strokeStyle = '#fff'; c.lineWidth = 1; c.fill(); c.stroke();
    // The tint is what the lasso takes: every pixel inside the outline but confirmed ones.
    const m = c.getImageData(0, 0, bw, bh).data;
    const t = S.tint || (S.tint = document.createElement('canvas'));
    t.width = bw; t.height = bh;
    const tc = t.getContext('2d'), im = tc.createImageData(bw, bh), o = im.data;
    let taken = 0;
    for (let y = 0, j = 0; y < bh; y++) {
      const row = (y + y0) * L.w + x0;
      for (let x = 0; x < bw; x++, j += 4)
        if (m[j + 3] >= 128 && !L.locked[row + x]) { o[j + 1] = 229; o[j + 2] = 255; o[j + 3] = 110; taken++; }
    }
    tc.putImageData(im, 0, 0);
    S.tintBox = [x0, y0, bw, bh];
    S.previewTaken = taken;
    p.tintKey = taken ? L.gen + ':' + p.points.length + ':' + taken : null;  // nothing to take: no tint
    S.tintKey = p.tintKey;
  }
  function drawTint(c, g) {
    const p = [...S.pending, ...S.path].reverse().find(q => q.kind === 'lasso');
    if (!p || !p.tintKey || p.tintKey !== S.tintKey || !S.labelsReady()) return;
    if (S.labels.w !== g.nw || S.labels.h !== g.nh) return;
    const [x0, y0, bw, bh] = S.tintBox;
    c.drawImage(S.tint, g.left + x0 * g.s, g.top + y0 * g.s, bw * g.s, bh * g.s);
  }
  function redraw(cursor) {
    const c = ctx(); c.clearRect(0, 0, overlay.width, overlay.height);
    const g = geom(); if (!g) return;
    drawTint(c, g);
    S.pending.forEach(p => drawPath(c, g, p));
    if (S.path.length) drawPath(c, g, S.path.at(-1));
    if (cursor && draws() !== 'lasso' && draws() !== 'pan') {
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
  // The server answered the strokes sent: a new picture replaces them (the load handler below); one
  // it refused brings no new picture, so its outline is dropped shortly after the answer.
  S.answered = () => { const done = S.pending.filter(p => p.sent);
    setTimeout(() => { S.pending = S.pending.filter(p => !done.includes(p)); redraw(); }, 800); };
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
    const pan = e.button !== 0 || S.space || draws() === 'pan';
    S.down = {x: e.clientX, y: e.clientY, pan, moved: false, px: S.px, py: S.py, shift: e.shiftKey};
    const kind = draws() === 'lasso' ? 'lasso' : 'stroke';
    if (!pan) S.path.push({kind, action: TOOLS[tool()].id, radius: radius(), points: [toImage(g, e.clientX, e.clientY)]});
    if (!pan && kind === 'lasso') { S.previewTaken = 0; S.wantLabels(); }
  }, true);
  document.addEventListener('pointermove', (e) => {
    if (S.down === null) { if (inside(e)) redraw([e.clientX, e.clientY]); else if (overlay) redraw(); return; }
    S.cursor = [e.clientX, e.clientY];  // for the preview's redraw; no layout query while drawing
    const d = S.down;
    if (Math.hypot(e.clientX - d.x, e.clientY - d.y) > 4) d.moved = true;
    if (d.pan) { S.px = d.px + e.clientX - d.x; S.py = d.py + e.clientY - d.y; applyView(); return; }
    const g = geom(); if (!g) return;
    S.path.at(-1).points.push(toImage(g, e.clientX, e.clientY));
    if (S.path.at(-1).kind === 'lasso') schedulePreview();
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
      // The shown pixel under each point, as for a click: the preview counted the same pixels.
      S.pending.push(p); send({kind: 'lasso', points: p.points.map(([x, y]) => [Math.floor(x), Math.floor(y)])});
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
      S.pending = S.pending.filter(p => !p.sent); S.gen++;
      if (lassoing() || draws() === 'lasso') S.wantLabels();  // ready before the next lasso
      applyView();
    }
  }, true);
  // The changed radio's own value: Gradio marks it checked only after this event.
  document.addEventListener('change', (e) => {
    if (e.target.closest && e.target.closest('#drag-tool') && draws(e.target.value) === 'lasso') S.wantLabels();
  }, true);
  addEventListener('resize', () => redraw());
  addEventListener('scroll', () => redraw(), true);
}
