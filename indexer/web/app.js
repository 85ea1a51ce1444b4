// The explorer's views, drawn from the URL (client-side routing over real paths, so every
// view is linkable) with data from the indexer's /v1 API only. Everything from the chain is
// inserted as text, never as HTML.

import { barChart, lineChart } from './charts.js';

const view = document.getElementById('view');

// === Helpers ===

/** An element: `h('td', { class: 'num' }, child, …)`; strings become text nodes. */
function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'dataset') Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

class NotFound extends Error {}

/** GET a /v1 path as JSON; 404 → NotFound, other errors carry the API's message. */
async function api(path) {
  const response = await fetch(path, { headers: { accept: 'application/json' } });
  const body = await response.json().catch(() => null);
  if (response.status === 404) throw new NotFound(body?.error?.message ?? 'not found');
  if (!response.ok) throw new Error(body?.error?.message ?? `${response.status} ${response.statusText}`);
  return body;
}

const number = new Intl.NumberFormat('en-US');
const fmt = (n) => (n === null || n === undefined ? '—' : number.format(n));

function bytes(n) {
  if (n === null || n === undefined) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  let value = Number(n), unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return unit === 0 ? `${fmt(value)} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

/** FROST (10⁻⁹ WAL) as WAL. */
function wal(frost) {
  if (frost === null || frost === undefined) return '—';
  const value = Number(frost) / 1e9;
  return `${value.toLocaleString('en-US', { maximumFractionDigits: value < 10 ? 4 : 2 })} WAL`;
}

const when = (ms) => (ms === null || ms === undefined ? '—' : new Date(Number(ms)).toISOString().replace('T', ' ').slice(0, 19) + ' UTC');
const percent = (part, whole) => (whole ? `${((100 * part) / whole).toFixed(1)} %` : '—');

/** A value shown formatted, with the API's exact value in data-value (and on hover). */
function val(field, raw, shown = fmt(raw)) {
  return h('span', { dataset: { field, value: raw ?? '' }, title: raw ?? '' }, shown);
}
const mono = (field, text) => h('span', { class: 'mono', dataset: { field, value: text ?? '' } }, text ?? '—');
const link = (href, ...children) => h('a', { href }, ...children);
const facts = (pairs) => h('dl', { class: 'facts' }, pairs.filter(Boolean).flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
const card = (title, ...children) => h('section', { class: 'card' }, title ? h('h2', {}, title) : null, ...children);
const figure = (label, value, note) => h('div', { class: 'figure' }, h('div', { class: 'label' }, label), h('div', { class: 'value' }, value), note ? h('div', { class: 'note' }, note) : null);
const badge = (status) => h('span', { class: `badge ${status}`, dataset: { field: 'status', value: status } }, status);
function table(headers, rows) {
  return h('div', { class: 'table-wrap' }, h('table', {},
    h('thead', {}, h('tr', {}, headers.map((c) => (c.startsWith('#') ? h('th', { class: 'num' }, c.slice(1)) : h('th', {}, c))))),
    h('tbody', {}, rows)));
}
const num = (...children) => h('td', { class: 'num' }, ...children);
const shortId = (id) => (id && id.length > 20 ? `${id.slice(0, 10)}…${id.slice(-6)}` : id);

/** A blob ID's u256 value (the bytes read little-endian, as on Sui), in decimal. */
function blobIdDecimal(base64url) {
  const text = atob(base64url.replace(/-/g, '+').replace(/_/g, '/'));
  let value = 0n;
  for (let i = text.length - 1; i >= 0; i -= 1) value = (value << 8n) | BigInt(text.charCodeAt(i));
  return value.toString();
}
function blobIdHex(base64url) {
  const text = atob(base64url.replace(/-/g, '+').replace(/_/g, '/'));
  return [...text].map((c) => c.charCodeAt(0).toString(16).padStart(2, '0')).join('');
}

// === Views ===

/** Epochs listed on the home page (newest first, with the upcoming one); the plots come from
 * /v1/stats by_epoch, so the home page never loads every epoch's committee. */
const RECENT_EPOCHS = 10;

async function home() {
  document.title = 'Walrus explorer';
  const [stats, { epochs }, { nodes }] = await Promise.all([api('/v1/stats'), api(`/v1/epochs?limit=${RECENT_EPOCHS}`), api('/v1/nodes')]);
  const started = epochs.filter((e) => !e.upcoming);
  const current = started.find((e) => e.epoch === stats.epoch);
  const previous = started.find((e) => e.epoch === stats.epoch - 1);
  // The chain does not announce an epoch's end: estimated from the last epoch's length.
  const end = current?.start_timestamp_ms && previous?.start_timestamp_ms
    ? current.start_timestamp_ms + (current.start_timestamp_ms - previous.start_timestamp_ms) : null;
  const active = nodes.filter((n) => n.deregistered_epoch === null);
  const stake = (n) => n.pool_wal ?? n.staked_principal;
  const totalStake = active.reduce((sum, n) => sum + stake(n), 0);
  const figures = h('div', { class: 'figures' },
    figure('Epoch', link(`/epoch/${stats.epoch}`, val('epoch', stats.epoch)),
      current ? `started ${when(current.start_timestamp_ms)}` : null),
    figure('Epoch ends', end ? h('span', { dataset: { field: 'epoch-end' } }, `≈ ${when(end).slice(0, 16)}`) : '—', end ? 'estimated from the last epoch' : 'not known yet'),
    figure('Blobs stored', val('blobs', stats.stored.blobs)),
    figure('Bytes stored', val('bytes', stats.stored.bytes, bytes(stats.stored.bytes))),
    figure('Certified', val('certified-share', stats.certified.blobs, percent(stats.certified.blobs, stats.stored.blobs)),
      `${fmt(stats.certified.blobs)} blobs, ${bytes(stats.certified.bytes)}`),
    figure('Nodes', val('nodes', active.length)),
    figure('Total stake', val('stake', totalStake, wal(totalStake))));
  // Per started epoch: registered and certified blobs and bytes, total stake, prices.
  const byEpoch = stats.by_epoch.filter((e) => e.epoch <= stats.epoch);
  const series = (name, key) => ({ name, points: byEpoch.filter((e) => e[key] !== null).map((e) => [e.epoch, e[key]]) });
  const charts = h('div', { class: 'charts' },
    card('Blobs per epoch', lineChart([series('registered', 'blobs_registered'), series('certified', 'blobs_certified')], { format: fmt })),
    card('Bytes per epoch', lineChart([series('registered', 'bytes_registered'), series('certified', 'bytes_certified')], { format: bytes })),
    card('Total stake per epoch', lineChart([series('stake', 'total_stake')], { format: wal })),
    card('Prices per MiB and epoch', lineChart([series('storage', 'storage_price'), series('write', 'write_price')],
      { format: (v) => `${fmt(Math.round(v))} FROST` })),
    card('Stake by node', barChart(active.map((n) => ({ label: n.name, value: stake(n), href: `/node/${n.node_id}` }))
      .sort((a, b) => b.value - a.value), { format: wal })));
  const nodeRows = [...nodes].sort((a, b) => stake(b) - stake(a)).map((n) => h('tr', {},
    h('td', {}, link(`/node/${n.node_id}`, n.name || shortId(n.node_id))),
    num(n.shards.length), num(wal(stake(n))), num(`${(n.commission_rate_bps / 100).toFixed(2)} %`),
    h('td', {}, n.deregistered_epoch === null ? 'active' : `left in epoch ${n.deregistered_epoch}`)));
  const epochRows = epochs.map((e) => h('tr', {},
    h('td', {}, link(`/epoch/${e.epoch}`, e.epoch)), h('td', { class: 'time' }, e.upcoming ? 'upcoming' : when(e.start_timestamp_ms)),
    num(fmt(e.storage_price_per_mib)), num(fmt(e.write_price_per_mib)), num(bytes(e.total_capacity_bytes))));
  return [h('h1', {}, 'Network'), figures, charts,
    card('Storage nodes', table(['Node', '#Shards', '#Stake', '#Commission', 'State'], nodeRows)),
    card('Epochs', table(['Epoch', 'Started', '#Storage price', '#Write price', '#Capacity'], epochRows))];
}

async function blobPage(id) {
  const blob = await api(`/v1/blobs/${encodeURIComponent(id)}`);
  document.title = `Blob ${blob.blob_id} · Walrus explorer`;
  // Found by hex or decimal: the address bar shows the canonical link.
  if (id !== blob.blob_id) history.replaceState(null, '', `/blob/${blob.blob_id}`);
  const { events } = await api(`/v1/events?blob_id=${encodeURIComponent(blob.blob_id)}&limit=200`);
  const objects = blob.objects.map((o) => card(`Object ${shortId(o.object_id)}`, facts([
    ['Object ID', mono('object_id', o.object_id)],
    ['Status', badge(o.status)],
    ['Size', val('size', o.size, `${bytes(o.size)} (${fmt(o.size)} B)`)],
    ['Encoded size', val('encoded_size', o.encoded_size, o.encoded_size === null ? '—' : `${bytes(o.encoded_size)} (${fmt(o.encoded_size)} B)`)],
    ['Registered in epoch', link(`/epoch/${o.registered_epoch}`, val('registered_epoch', o.registered_epoch))],
    ['Certified in epoch', o.certified_epoch === null ? 'not certified' : link(`/epoch/${o.certified_epoch}`, val('certified_epoch', o.certified_epoch))],
    ['Stored until epoch', val('end_epoch', o.end_epoch), ' (exclusive)'],
    o.deleted_epoch !== null && ['Deleted in epoch', val('deleted_epoch', o.deleted_epoch)],
    ['Deletable', o.deletable ? 'yes' : 'no'],
    ['Attributes', Object.keys(o.attributes).length === 0 ? h('span', { class: 'empty' }, 'none')
      : table(['Key', 'Value'], Object.entries(o.attributes).map(([k, v]) => h('tr', { dataset: { attribute: k } },
        h('td', { class: 'mono' }, k), h('td', { class: 'mono' }, String(v)))))],
  ])));
  const timeline = events.length === 0 ? h('p', { class: 'empty' }, 'No events.') : h('ol', { class: 'timeline' },
    events.map((e) => h('li', { dataset: { event: e.type } },
      h('strong', {}, e.type), e.data?.object_id ? [' · object ', h('span', { class: 'mono' }, shortId(e.data.object_id))] : null,
      e.data?.epoch !== undefined ? ` · epoch ${e.data.epoch}` : null,
      h('div', { class: 'when' }, `${when(e.timestamp_ms)} · checkpoint ${fmt(e.checkpoint)} · tx `, h('span', { class: 'mono', dataset: { field: 'tx_digest' } }, e.tx_digest)))));
  return [h('h1', {}, 'Blob ', h('span', { class: 'mono' }, blob.blob_id)),
    card(null, facts([
      ['Blob ID (base64url)', mono('blob_id', blob.blob_id)],
      ['Blob ID (decimal u256)', mono('blob_id_decimal', blobIdDecimal(blob.blob_id))],
      ['Blob ID (hex)', mono('blob_id_hex', blobIdHex(blob.blob_id))],
      ['Status', badge(blob.status)],
      ['Objects', val('objects', blob.objects.length)],
    ])),
    ...objects,
    card('Event timeline', timeline)];
}

async function epochPage(n) {
  const [epoch, { nodes }] = await Promise.all([api(`/v1/epochs/${n}`), api('/v1/nodes')]);
  document.title = `Epoch ${epoch.epoch} · Walrus explorer`;
  const names = new Map(nodes.map((node) => [node.node_id, node.name]));
  const committee = (epoch.committee ?? []).map((m) => ({ ...m, name: names.get(m.node_id) ?? shortId(m.node_id) }));
  const shards = committee.reduce((sum, m) => sum + m.shards.length, 0);
  const used = epoch.used_capacity_bytes, total = epoch.total_capacity_bytes;
  return [
    h('h1', {}, `Epoch ${epoch.epoch}`),
    h('div', { class: 'pager' }, epoch.epoch > 0 ? link(`/epoch/${epoch.epoch - 1}`, '← previous') : null, link(`/epoch/${epoch.epoch + 1}`, 'next →')),
    h('div', { class: 'figures' },
      figure('State', epoch.upcoming ? 'upcoming' : 'started', epoch.upcoming ? null : when(epoch.start_timestamp_ms)),
      figure('Storage price', val('storage_price', epoch.storage_price_per_mib), 'FROST per MiB and epoch'),
      figure('Write price', val('write_price', epoch.write_price_per_mib), 'FROST per MiB'),
      figure('Capacity', val('total_capacity', total, bytes(total)), used === null ? null : `${bytes(used)} used (${percent(used, total)})`),
      figure('Committee', val('members', committee.length), `${fmt(shards)} shards`)),
    card('Shards per committee member', barChart(
      committee.map((m) => ({ label: m.name, value: m.shards.length, href: `/node/${m.node_id}` })).sort((a, b) => b.value - a.value),
      { format: fmt })),
    card('Committee', table(['Node', 'Node ID', 'Network address', 'Public key (BLS, base64)', '#Shards', '#Weight'],
      committee.map((m) => h('tr', { dataset: { node: m.node_id } },
        h('td', {}, link(`/node/${m.node_id}`, m.name)), h('td', { class: 'mono' }, m.node_id),
        h('td', { class: 'mono', dataset: { field: 'network_address', value: m.network_address ?? '' } }, m.network_address ?? '—'),
        h('td', { class: 'mono key', dataset: { field: 'public_key', value: m.public_key ?? '' } }, m.public_key ?? '—'),
        num(m.shards.length), num(fmt(m.weight)))))),
    card(null, facts([
      ['Start checkpoint', fmt(epoch.start_checkpoint)],
      ['Shard sync done at checkpoint', fmt(epoch.sync_done_checkpoint)],
    ])),
  ];
}

async function nodePage(id) {
  const [node, page] = await Promise.all([api(`/v1/nodes/${encodeURIComponent(id)}`),
    api(`/v1/nodes/${encodeURIComponent(id)}/history`)]);
  document.title = `${node.name} · Walrus explorer`;
  // Per epoch the node was known in (stake, shards) with its rewards where it earned any; oldest first.
  const history = [...page.history].reverse();
  const current = node.exchange_rate === null ? null : Number(node.exchange_rate);
  return [
    h('h1', {}, 'Node ', h('span', { dataset: { field: 'name' } }, node.name)),
    card(null, facts([
      ['Node ID', mono('node_id', node.node_id)],
      ['Network address', mono('network_address', node.network_address)],
      ['Public key (BLS)', mono('public_key', node.public_key)],
      ['Network public key', mono('network_public_key', node.network_public_key)],
      ['Commission', val('commission_rate_bps', node.commission_rate_bps, `${(node.commission_rate_bps / 100).toFixed(2)} %`)],
      ['Stake in the pool', val('pool_wal', node.pool_wal, wal(node.pool_wal))],
      ['Staked principal', val('staked_principal', node.staked_principal, wal(node.staked_principal))],
      ['Exchange rate (WAL per share)', current === null ? '—' : val('exchange_rate', current, current.toFixed(6))],
      ['Commission collected', wal(node.commission_collected)],
      ['Votes', `storage ${fmt(node.storage_price_vote)}, write ${fmt(node.write_price_vote)} FROST per MiB; capacity ${bytes(node.capacity_vote)}`],
      ['Registered in epoch', link(`/epoch/${node.registered_epoch}`, node.registered_epoch)],
      node.deregistered_epoch !== null && ['Left in epoch', node.deregistered_epoch],
      ['Shards', node.shards.length === 0 ? h('span', { class: 'empty' }, 'none in the current committee')
        : h('div', { class: 'shards', dataset: { field: 'shards', value: node.shards.length } }, node.shards.map((s) => h('span', {}, s)))],
    ])),
    h('div', { class: 'charts' },
      card('Stake per epoch', lineChart([{ name: 'stake', points: history.filter((e) => e.stake !== null).map((e) => [e.epoch, e.stake]) }], { format: wal })),
      card('Exchange rate per epoch', lineChart([{ name: 'WAL per share',
        points: history.filter((e) => e.exchange_rate !== null).map((e) => [e.epoch, Number(e.exchange_rate)]) }],
        { format: (v) => v.toFixed(4), zero: false }))),
    card('Rewards and commission per epoch', history.length === 0 ? h('p', { class: 'empty' }, 'No epochs yet.')
      : table(['Epoch', '#Stake', '#Shards', '#Reward', '#Commission', '#Pool', '#WAL per share'], page.history.map((e) => h('tr', { dataset: { epoch: e.epoch } },
        h('td', {}, link(`/epoch/${e.epoch}`, e.epoch)), num(wal(e.stake)), num(e.shards?.length ?? '—'),
        num(val('reward', e.reward, wal(e.reward))), num(val('commission', e.commission, wal(e.commission))),
        num(wal(e.pool_wal)), num(e.exchange_rate ?? '—'))))),
  ];
}

/** How often the first page of the live event list asks for newer events. */
const LIVE_REFRESH_MS = 5000;
/** The live list's timer; cleared on every navigation. */
let liveTimer = null;

const eventKey = (e) => `${e.checkpoint}.${e.tx_index}.${e.event_index}`;
const eventRow = (e) => h('tr', { dataset: { event: e.type, key: eventKey(e) } },
  h('td', { class: 'time' }, when(e.timestamp_ms)), h('td', {}, e.type),
  h('td', {}, e.data?.blob_id ? link(`/blob/${e.data.blob_id}`, h('span', { class: 'mono' }, shortId(e.data.blob_id)))
    : e.data?.node_id ? link(`/node/${e.data.node_id}`, h('span', { class: 'mono' }, shortId(e.data.node_id)))
    : e.data?.epoch !== undefined ? link(`/epoch/${e.data.epoch}`, `epoch ${e.data.epoch}`) : '—'),
  num(fmt(e.checkpoint)), h('td', { class: 'mono' }, shortId(e.tx_digest)));

/** Newest first; the first page adds newer events at the top as they are indexed. */
async function eventsPage() {
  document.title = 'Events · Walrus explorer';
  const params = new URLSearchParams(location.search);
  const query = new URLSearchParams({ order: 'desc', limit: '50' });
  for (const key of ['cursor', 'type']) if (params.get(key)) query.set(key, params.get(key));
  const page = await api(`/v1/events?${query}`);
  const list = table(['Time', 'Type', 'About', '#Checkpoint', 'Transaction'], page.events.map(eventRow));
  const tbody = list.querySelector('tbody');
  const live = !params.get('cursor');
  if (live) {
    // The newest event shown: newer ones are those after it in chain order.
    let newest = page.events[0] ? eventKey(page.events[0]) : null;
    const token = rendering; // this view's navigation; a later one stops the refresh
    liveTimer = setInterval(async () => {
      if (token !== rendering) return;
      const newer = new URLSearchParams({ order: 'asc', limit: '100' });
      if (newest) newer.set('cursor', newest);
      if (params.get('type')) newer.set('type', params.get('type'));
      const { events } = await api(`/v1/events?${newer}`).catch(() => ({ events: [] }));
      if (token !== rendering || events.length === 0) return;
      newest = eventKey(events.at(-1));
      tbody.prepend(...events.reverse().map(eventRow));
      tbody.closest('.card')?.querySelector('.empty-list')?.remove();
    }, LIVE_REFRESH_MS);
  }
  const older = new URLSearchParams(params);
  if (page.next_cursor) older.set('cursor', page.next_cursor);
  return [h('h1', {}, 'Events'),
    h('p', { class: 'note' }, live ? 'Newest first; new events appear at the top as they are indexed.' : 'Newest first.'),
    card(null, page.events.length === 0 ? h('p', { class: 'empty empty-list' }, 'No events yet.') : null,
      list,
      h('div', { class: 'pager' },
        live ? null : link('/events', '⇤ newest events'),
        page.next_cursor ? link(`/events?${older}`, 'older events →') : h('span', { class: 'empty' }, 'oldest event reached')))];
}

// === Search ===

/** Where a search term leads, as the API's search resolves it (blob ID in any form, object or node ID). */
async function resolve(term) {
  const q = term.trim();
  const { results } = await api(`/v1/search?q=${encodeURIComponent(q)}`);
  const hit = results[0];
  if (!hit) throw new NotFound(`nothing indexed is named ${q}`);
  return hit.kind === 'node' ? `/node/${hit.id}` : `/blob/${hit.blob_id}`;
}

// === Routing ===

const routes = [
  [/^\/$/, home],
  [/^\/blob\/([^/]+)$/, (id) => blobPage(decodeURIComponent(id))],
  [/^\/epoch\/(\d+)$/, epochPage],
  [/^\/node\/([^/]+)$/, (id) => nodePage(decodeURIComponent(id))],
  [/^\/events$/, eventsPage],
];

let rendering = 0;

async function render() {
  clearInterval(liveTimer);
  const token = ++rendering;
  const match = routes.map(([re, draw]) => [location.pathname.match(re), draw]).find(([m]) => m);
  view.replaceChildren(h('p', { class: 'loading' }, 'Loading…'));
  view.dataset.state = 'loading';
  let content, state = 'ready';
  try {
    if (!match) throw new NotFound(`no page at ${location.pathname}`);
    content = await match[1](...match[0].slice(1));
  } catch (error) {
    state = error instanceof NotFound ? 'not-found' : 'error';
    document.title = state === 'not-found' ? 'Not found · Walrus explorer' : 'Error · Walrus explorer';
    content = card(state === 'not-found' ? 'Not found' : 'Something went wrong',
      h('p', {}, error.message), h('p', {}, link('/', 'Back to the network overview')));
    content.classList.add('error');
  }
  if (token !== rendering) return; // a newer navigation took over
  view.replaceChildren(...[content].flat());
  view.dataset.state = state;
  // When the view is drawn with its data: the time to interactive that the benchmark reads.
  performance.mark('view-ready');
}

function navigate(path) {
  history.pushState(null, '', path);
  window.scrollTo(0, 0);
  render();
}

document.addEventListener('click', (event) => {
  const a = event.target.closest('a');
  if (!a || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith('/v1/')) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
});

document.getElementById('search').addEventListener('submit', async (event) => {
  event.preventDefault();
  const input = event.target.elements.q;
  if (!input.value.trim()) return;
  try {
    navigate(await resolve(input.value));
    input.value = '';
  } catch (error) {
    const notFound = error instanceof NotFound;
    view.replaceChildren(card(notFound ? 'Not found' : 'Search failed', h('p', {}, error.message)));
    view.dataset.state = notFound ? 'not-found' : 'error';
  }
});

window.addEventListener('popstate', render);
render();
