// The cue timeline component (app/timeline.py): data lands only in text nodes.
const NS = 'http://www.w3.org/2000/svg';
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd'];

function el(tag, attrs, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function theVideo() {
  return document.querySelector('video[data-testid="stVideo"]') || document.querySelector('video');
}

export default function (component) {
  const { data, parentElement } = component;
  const root = parentElement.querySelector('.mer-tl') || document.createElement('div');
  root.className = 'mer-tl';
  root.replaceChildren();
  parentElement.appendChild(root);
  if (!data) return;
  const where = document.createElement('div');
  where.className = 'where';
  where.setAttribute('data-testid', 'seek-status');
  const seek = (t, what) => {
    const video = theVideo();
    if (!video || t === null || t === undefined) return;
    video.currentTime = Math.max(0, t);
    where.textContent = `video at ${t.toFixed(2)} s` + (what ? ` (${what})` : '');
  };

  const chips = document.createElement('div');
  chips.className = 'chips';
  data.clues.forEach((clue, i) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.setAttribute('data-testid', 'clue-chip');
    b.setAttribute('data-time', clue.time_s === null ? '' : String(clue.time_s));
    const at = clue.time_s === null ? '' : ` @${clue.time_s.toFixed(1)}s`;
    const mark = clue.grounded ? '' : '⚠ ';
    b.textContent = `${i + 1}. ${mark}${clue.cue || 'no cue'}${at}: ${clue.text}`;
    b.title = (clue.grounded ? '' : 'Names no cue of the cue text. ') + clue.text;
    if (!clue.grounded) b.classList.add('ungrounded');
    if (clue.time_s === null) b.classList.add('notime');
    b.addEventListener('click', () => seek(clue.time_s, `clue ${i + 1}`));
    chips.appendChild(b);
  });
  if (data.clues.length) root.appendChild(chips);

  const width = Math.max(320, Math.round(root.getBoundingClientRect().width || 600));
  const L = 62, R = 6, dur = Math.max(data.duration || 0, 0.1);
  const x = (t) => L + (Math.min(Math.max(t, 0), dur) / dur) * (width - L - R);
  const lanes = [];
  if (data.aus.length) lanes.push(['AU', 44]);
  // AU events packed into at most three rows, so overlapping activations stay readable.
  const rowEnds = [];
  const eventRow = data.events.map((ev) => {
    let row = rowEnds.findIndex((end) => end <= ev.start);
    if (row === -1) row = rowEnds.length < 3 ? rowEnds.length : rowEnds.indexOf(Math.min(...rowEnds));
    rowEnds[row] = ev.end;
    return row;
  });
  if (data.events.length) lanes.push(['events', 13 * Math.max(1, rowEnds.length)]);
  if (data.pitch) lanes.push(['pitch', 30]);
  if (data.loudness) lanes.push(['loudness', 30]);
  if (data.words.length) lanes.push(['words', 18]);
  let y = 2;
  const top = {};
  for (const [name, h] of lanes) { top[name] = [y, h]; y += h + 4; }
  const height = y + 12;
  const svg = el('svg', { viewBox: `0 0 ${width} ${height}`, height, 'data-testid': 'cue-plot' });
  svg.addEventListener('click', (e) => {
    const box = svg.getBoundingClientRect();
    const px = ((e.clientX - box.left) / box.width) * width;
    if (px >= L) seek(((px - L) / (width - L - R)) * dur, 'timeline');
  });
  for (const [name, [ty, h]] of Object.entries(top)) {
    svg.appendChild(el('text', { x: 2, y: ty + Math.min(h, 14) - 3, fill: '#666', 'font-size': 11 }, name));
    svg.appendChild(el('line', { x1: L, x2: width - R, y1: ty + h, y2: ty + h, stroke: '#e3e3e3' }));
  }
  const line = (series, ty, h, lo, hi, color) => {
    let d = '';
    let pen = false;
    series.t.forEach((t, i) => {
      const v = series.v[i];
      if (v === null) { pen = false; return; }
      const yy = ty + h - ((v - lo) / (hi - lo || 1)) * h;
      d += `${pen ? 'L' : 'M'}${x(t).toFixed(1)},${yy.toFixed(1)}`;
      pen = true;
    });
    const p = el('path', { d, fill: 'none', stroke: color, 'stroke-width': 1.3 });
    p.appendChild(el('title', {}, series.name));
    svg.appendChild(p);
  };
  const range = (series) => {
    const vs = series.v.filter((v) => v !== null);
    return vs.length ? [Math.min(...vs), Math.max(...vs)] : [0, 1];
  };
  if (top.AU) {
    const [ty, h] = top.AU;
    data.aus.forEach((s, i) => {
      line(s, ty, h, 0, 5, COLORS[i % COLORS.length]);
      svg.appendChild(el('text', { x: width - R - 40 * (data.aus.length - i), y: ty + 10,
        fill: COLORS[i % COLORS.length], 'font-size': 10 }, s.name));
    });
  }
  if (top.events) {
    const [ty] = top.events;
    data.events.forEach((ev, i) => {
      const g = el('g', { 'data-testid': 'au-event', 'data-time': ev.peak ?? ev.start, cursor: 'pointer' });
      const ry = ty + 13 * eventRow[i];
      const rw = Math.max(2, x(ev.end) - x(ev.start));
      g.appendChild(el('rect', { x: x(ev.start), y: ry, width: rw, height: 12,
        fill: '#cfe0f3', stroke: '#5b8fc9' }));
      if (rw >= 28) g.appendChild(el('text', { x: x(ev.start) + 2, y: ry + 10, 'font-size': 10 }, ev.label));
      g.appendChild(el('title', {}, `${ev.label} ${ev.start.toFixed(2)}-${ev.end.toFixed(2)} s`));
      g.addEventListener('click', (e) => { e.stopPropagation(); seek(ev.peak ?? ev.start, ev.label); });
      svg.appendChild(g);
    });
  }
  if (top.pitch) { const [lo, hi] = range(data.pitch); line(data.pitch, ...top.pitch, lo, hi, '#8c564b'); }
  if (top.loudness) { const [lo, hi] = range(data.loudness); line(data.loudness, ...top.loudness, lo, hi, '#7f7f7f'); }
  if (top.words) {
    const [ty, h] = top.words;
    data.words.forEach((w) => {
      const g = el('g', { 'data-testid': 'word', 'data-time': w.start, cursor: 'pointer' });
      g.appendChild(el('rect', { x: x(w.start), y: ty, width: Math.max(2, x(w.end) - x(w.start)),
        height: h, fill: '#f1f1f1', stroke: '#bbb' }));
      if (x(w.end) - x(w.start) >= w.label.length * 5 + 2) {
        g.appendChild(el('text', { x: x(w.start) + 1, y: ty + h - 5, 'font-size': 10 }, w.label));
      }
      g.appendChild(el('title', {}, `${w.label} ${w.start.toFixed(2)} s`));
      g.addEventListener('click', (e) => { e.stopPropagation(); seek(w.start, w.label); });
      svg.appendChild(g);
    });
  }
  data.clues.forEach((clue, i) => {
    if (clue.time_s === null) return;
    const cx = x(clue.time_s);
    const color = clue.grounded ? '#1f77b4' : '#e69500';
    svg.appendChild(el('line', { x1: cx, x2: cx, y1: 0, y2: height - 12, stroke: color,
      'stroke-dasharray': '3,2', 'pointer-events': 'none' }));
    svg.appendChild(el('text', { x: cx + 2, y: height - 2, fill: color, 'font-size': 10 }, String(i + 1)));
  });
  const head = el('line', { x1: L, x2: L, y1: 0, y2: height - 12, stroke: '#ff2b2b', 'pointer-events': 'none' });
  svg.appendChild(head);
  for (let s = 0; s <= 4; s++) {
    const t = (dur * s) / 4;
    svg.appendChild(el('text', { x: Math.min(x(t), width - R - 24), y: height - 2, fill: '#999', 'font-size': 10 }, `${t.toFixed(1)}s`));
  }
  root.appendChild(svg);
  root.appendChild(where);
  const video = theVideo();
  const move = () => { const cx = x(video.currentTime); head.setAttribute('x1', cx); head.setAttribute('x2', cx); };
  if (video) video.addEventListener('timeupdate', move);
  return () => { if (video) video.removeEventListener('timeupdate', move); };
}
