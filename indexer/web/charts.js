// Small SVG charts drawn by hand: a line chart over epochs and a horizontal bar chart. Each
// point and bar carries a <title> with its exact value, shown on hover.

const NS = 'http://www.w3.org/2000/svg';

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A chart with nothing to draw says so instead of showing empty axes. */
function empty(message) {
  const p = document.createElement('p');
  p.className = 'empty';
  p.textContent = message;
  return p;
}

/**
 * Lines over a shared x axis (epochs). `series`: [{ name, points: [[x, y], …] }]; `format`
 * renders a y value. Returns an element (the SVG with its legend).
 */
export function lineChart(series, { format = String, xName = 'epoch', zero = true } = {}) {
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) return empty('No data yet.');
  const W = 360, H = 190, left = 78, right = 14, top = 10, bottom = 26;
  const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  if (x0 === x1) { x0 -= 1; x1 += 1; }
  // Amounts start at zero; a ratio (`zero: false`) spans its own range.
  let [y0, y1] = [zero ? Math.min(0, ...ys) : Math.min(...ys), Math.max(...ys)];
  if (y0 === y1) y1 = y0 + 1;
  const px = (x) => left + ((x - x0) / (x1 - x0)) * (W - left - right);
  const py = (y) => top + (1 - (y - y0) / (y1 - y0)) * (H - top - bottom);
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img' });
  root.append(svg('line', { class: 'axis', x1: left, y1: py(y0), x2: W - right, y2: py(y0) }));
  root.append(svg('line', { class: 'axis', x1: left, y1: top, x2: left, y2: H - bottom }));
  for (const y of [y0, (y0 + y1) / 2, y1]) {
    root.append(svg('line', { class: 'axis', x1: left - 4, y1: py(y), x2: left, y2: py(y) }));
    root.append(svg('text', { x: left - 6, y: py(y) + 4, 'text-anchor': 'end' }, format(y)));
  }
  const [first, last] = [Math.min(...xs), Math.max(...xs)];
  root.append(svg('text', { x: px(first), y: H - 8, 'text-anchor': first === last ? 'middle' : 'start' }, `${xName} ${first}`));
  if (last !== first) root.append(svg('text', { x: px(last), y: H - 8, 'text-anchor': 'end' }, `${xName} ${last}`));
  series.forEach((s, i) => {
    const g = svg('g', { class: `s${i % 2}`, 'data-series': s.name, 'data-points': s.points.length });
    const points = [...s.points].sort((a, b) => a[0] - b[0]);
    g.append(svg('polyline', { points: points.map(([x, y]) => `${px(x)},${py(y)}`).join(' ') }));
    for (const [x, y] of points) {
      const dot = svg('circle', { cx: px(x), cy: py(y), r: points.length > 60 ? 1.5 : 3 });
      dot.append(svg('title', {}, `${s.name}, ${xName} ${x}: ${format(y)}`));
      g.append(dot);
    }
    root.append(g);
  });
  const wrap = document.createElement('div');
  wrap.className = 'chart';
  wrap.append(root);
  if (series.length > 1) {
    const legend = document.createElement('div');
    legend.className = 'legend';
    series.forEach((s, i) => {
      const item = document.createElement('span');
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.style.background = i % 2 ? 'var(--accent2)' : 'var(--accent)';
      item.append(swatch, s.name);
      legend.append(item);
    });
    wrap.append(legend);
  }
  return wrap;
}

/** Horizontal bars: `items` [{ label, value, href? }], largest scale first as given. */
export function barChart(items, { format = String } = {}) {
  if (items.length === 0) return empty('No data.');
  const row = 22, labelW = 110, W = 360, right = 70;
  const H = items.length * row + 4;
  const max = Math.max(1, ...items.map((i) => i.value));
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img' });
  items.forEach((item, n) => {
    const y = n * row + 2;
    const label = item.label.length > 16 ? `${item.label.slice(0, 15)}…` : item.label;
    const text = svg('text', { x: labelW - 6, y: y + 14, 'text-anchor': 'end', class: 'bar-label' }, label);
    if (item.href) {
      const a = svg('a', { href: item.href });
      a.append(text);
      root.append(a);
    } else {
      root.append(text);
    }
    const width = Math.max(1, (item.value / max) * (W - labelW - right));
    const bar = svg('rect', { class: 'bar', x: labelW, y, width, height: row - 6, rx: 3, 'data-value': item.value });
    bar.append(svg('title', {}, `${item.label}: ${format(item.value)}`));
    root.append(bar);
    root.append(svg('text', { x: labelW + width + 4, y: y + 14 }, format(item.value)));
  });
  const wrap = document.createElement('div');
  wrap.className = 'chart bars';
  wrap.append(root);
  return wrap;
}
