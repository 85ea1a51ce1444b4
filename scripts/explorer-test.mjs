// Drives headless Chromium (Debian's /usr/bin/chromium, through playwright-core) over every
// view of the indexer's explorer page and checks what each shows against what the /v1 API
// returns. Run by indexer/tests/explorer_page.rs, which fills an indexer and passes:
//   EXPLORER_URL, EXPLORER_BLOB_ID (base64url), EXPLORER_BLOB_HEX, EXPLORER_BLOB_DECIMAL,
//   EXPLORER_OBJECT_ID, EXPLORER_EPOCH, EXPLORER_NODE_ID, EXPLORER_SCREENSHOTS (a folder).
// With --bench N it only loads the home page N times and prints the time until it is
// interactive (see README, "Explorer").
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const base = env('EXPLORER_URL');
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';

let failures = 0;
function check(condition, message) {
  if (condition) return;
  failures += 1;
  console.log(`FAIL ${message}`);
}
const equal = (got, want, what) => check(String(got) === String(want), `${what}: page shows ${JSON.stringify(got)}, API says ${JSON.stringify(want)}`);

async function api(path) {
  const response = await fetch(base + path);
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

const browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });

/** Opens `path`, waits until the view is drawn, and returns the page with the console errors it logged. */
async function open(path, { ctx = context, expect = 'ready' } = {}) {
  const page = await ctx.newPage();
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  const requests = [];
  page.on('request', (r) => requests.push(new URL(r.url())));
  await page.goto(base + path);
  await page.waitForSelector(`#view[data-state="${expect}"]`, { timeout: 10_000 }).catch(async () => {
    const state = await page.getAttribute('#view', 'data-state');
    check(false, `${path}: view state ${state}, expected ${expect}; errors: ${errors.join(' | ')}`);
  });
  return { page, errors, requests };
}

const field = (page, name) => page.getAttribute(`[data-field="${name}"]`, 'data-value');
const text = (page, selector) => page.textContent(selector).then((t) => t?.trim());
/** Searches for `term`; the view is marked first, so waiting for a drawn view waits for this search's. */
async function search(page, term) {
  await page.evaluate(() => { document.querySelector('#view').dataset.state = 'searching'; });
  await page.fill('#search input', term);
  await page.press('#search input', 'Enter');
}
const noErrors = (errors, what) => check(errors.length === 0, `${what}: console errors: ${errors.join(' | ')}`);

if (process.argv[2] === '--bench') {
  const runs = Number(process.argv[3] ?? 10);
  const times = [];
  for (let i = 0; i < runs; i += 1) {
    const started = Date.now();
    const { page } = await open('/');
    // From navigation start to the view drawn with the API's data (charts included).
    times.push(await page.evaluate(() => performance.getEntriesByName('view-ready')[0].startTime));
    console.log(`home page run ${i + 1}: interactive after ${times.at(-1).toFixed(0)} ms (wall ${Date.now() - started} ms)`);
    await page.close();
  }
  times.sort((a, b) => a - b);
  console.log(`home page interactive: median ${times[Math.floor(runs / 2)].toFixed(0)} ms, max ${times.at(-1).toFixed(0)} ms over ${runs} loads`);
  await browser.close();
  process.exit(failures ? 1 : 0);
}

const shots = env('EXPLORER_SCREENSHOTS');
mkdirSync(shots, { recursive: true });
const shot = (page, name) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });

// Home: the network figures and the plots.
{
  const stats = await api('/v1/stats');
  const { nodes } = await api('/v1/nodes');
  const { page, errors, requests } = await open('/');
  noErrors(errors, 'home');
  // Not every epoch's committee (1.4 MB at 1M blobs): the plots come from /v1/stats.
  const epochCalls = requests.filter((u) => u.pathname === '/v1/epochs');
  const epochLimit = epochCalls[0]?.searchParams.get('limit');
  check(epochCalls.length === 1 && epochLimit !== null && Number(epochLimit) <= 10,
    `home: loads epochs as ${epochCalls.map((u) => u.search || '(all)').join()}, expected only the last few`);
  equal(await field(page, 'epoch'), stats.epoch, 'home epoch');
  equal(await field(page, 'blobs'), stats.stored.blobs, 'home blobs stored');
  equal(await field(page, 'bytes'), stats.stored.bytes, 'home bytes stored');
  equal(await field(page, 'certified-share'), stats.certified.blobs, 'home certified blobs');
  equal(await field(page, 'nodes'), nodes.filter((n) => n.deregistered_epoch === null).length, 'home nodes');
  equal(await field(page, 'stake'), nodes.reduce((s, n) => s + (n.pool_wal ?? n.staked_principal), 0), 'home stake');
  const lines = await page.$$eval('.chart polyline', (ps) => ps.map((p) => p.getAttribute('points').split(' ').length));
  check(lines.length === 7, `home: ${lines.length} plotted lines, expected blobs and bytes (registered, certified), stake and two prices`);
  const epochs = stats.by_epoch.filter((e) => e.epoch <= stats.epoch).length;
  check(lines[0] === epochs, `home: blobs plot has ${lines[0]} points, API has ${epochs} epochs`);
  check(lines.every((n) => n >= 2), `home: a plot has fewer than two points: ${lines}`);
  const registered = await page.$eval('.chart [data-series="registered"]', (g) => [...g.querySelectorAll('title')].map((t) => t.textContent));
  equal(registered.join(' | '), stats.by_epoch.filter((e) => e.epoch <= stats.epoch).map((e) => `registered, epoch ${e.epoch}: ${e.blobs_registered}`).join(' | '), 'home blobs registered per epoch');
  check(await page.$$eval('.chart rect.bar', (r) => r.length) === nodes.length, 'home: one stake bar per node');
  await shot(page, 'home');
  await page.close();
}

// Blob: every ID form, the objects and their attributes, the event timeline.
const blobId = env('EXPLORER_BLOB_ID');
{
  const blob = await api(`/v1/blobs/${blobId}`);
  const { events } = await api(`/v1/events?blob_id=${blobId}&limit=200`);
  const { page, errors } = await open(`/blob/${blobId}`);
  noErrors(errors, 'blob');
  equal(await field(page, 'blob_id'), blob.blob_id, 'blob ID');
  equal(await text(page, '[data-field="blob_id"]'), blob.blob_id, 'blob ID shown');
  equal(await text(page, '[data-field="blob_id_decimal"]'), env('EXPLORER_BLOB_DECIMAL'), 'blob ID in decimal');
  equal(await text(page, '[data-field="blob_id_hex"]'), env('EXPLORER_BLOB_HEX'), 'blob ID in hex');
  equal(await page.getAttribute('.card [data-field="status"]', 'data-value'), blob.status, 'blob status');
  const objects = await page.$$eval('[data-field="object_id"]', (n) => n.map((e) => e.dataset.value));
  equal(objects.join(), blob.objects.map((o) => o.object_id).join(), 'blob objects');
  for (const key of ['size', 'encoded_size', 'registered_epoch', 'end_epoch']) {
    const shown = await page.$$eval(`[data-field="${key}"]`, (n) => n.map((e) => e.dataset.value));
    equal(shown.join(), blob.objects.map((o) => o[key]).join(), `blob ${key}`);
  }
  const attributes = blob.objects.flatMap((o) => Object.entries(o.attributes));
  check(attributes.length > 0, 'the sampled blob has attributes');
  const shownAttributes = await page.$$eval('tr[data-attribute]', (rows) => rows.map((r) => [...r.cells].map((c) => c.textContent)));
  equal(JSON.stringify(shownAttributes), JSON.stringify(attributes), 'blob attributes (as text, never HTML)');
  const timeline = await page.$$eval('.timeline li', (li) => li.map((l) => [l.dataset.event, l.querySelector('[data-field="tx_digest"]').textContent]));
  equal(JSON.stringify(timeline), JSON.stringify(events.map((e) => [e.type, e.tx_digest])), 'blob event timeline');
  await shot(page, 'blob');
  await page.close();
}

// Search: the blob by each ID form and by its object, a node by its ID.
{
  const { page, errors } = await open('/');
  const forms = [blobId, env('EXPLORER_BLOB_HEX'), `0x${env('EXPLORER_BLOB_HEX')}`, env('EXPLORER_BLOB_DECIMAL'), env('EXPLORER_OBJECT_ID')];
  for (const term of forms) {
    await search(page, term);
    await page.waitForFunction((id) => location.pathname === `/blob/${id}` && document.querySelector('#view').dataset.state === 'ready', blobId, { timeout: 5000 })
      .catch(() => check(false, `search for ${term} did not open the blob (at ${page.url()})`));
    equal(await field(page, 'blob_id'), blobId, `search by ${term}`);
  }
  await search(page, env('EXPLORER_NODE_ID'));
  await page.waitForFunction(() => location.pathname.startsWith('/node/') && document.querySelector('#view').dataset.state === 'ready', null, { timeout: 5000 })
    .catch(() => check(false, `search for the node did not open it (at ${page.url()})`));
  equal(await field(page, 'node_id'), env('EXPLORER_NODE_ID'), 'search by node ID');
  // Back goes back through the views, as with separate pages.
  await page.goBack();
  await page.waitForFunction((id) => location.pathname === `/blob/${id}`, blobId, { timeout: 5000 })
    .catch(() => check(false, `back did not return to the blob (at ${page.url()})`));
  noErrors(errors, 'search');
  // Something that names nothing indexed.
  await search(page, `0x${'cd'.repeat(32)}`);
  await page.waitForSelector('#view[data-state="not-found"]', { timeout: 5000 })
    .catch(() => check(false, 'search for an unknown ID did not say "not found"'));
  await page.close();
}

// Epoch: prices, capacity, committee with a shard chart.
{
  const n = env('EXPLORER_EPOCH');
  const epoch = await api(`/v1/epochs/${n}`);
  const { page, errors } = await open(`/epoch/${n}`);
  noErrors(errors, 'epoch');
  equal(await field(page, 'storage_price'), epoch.storage_price_per_mib, 'epoch storage price');
  equal(await field(page, 'write_price'), epoch.write_price_per_mib, 'epoch write price');
  equal(await field(page, 'total_capacity'), epoch.total_capacity_bytes, 'epoch capacity');
  equal(await field(page, 'members'), epoch.committee.length, 'epoch committee size');
  const bars = await page.$$eval('.chart rect.bar', (r) => r.map((b) => Number(b.dataset.value)).sort((a, b) => a - b));
  equal(bars.join(), epoch.committee.map((m) => m.shards.length).sort((a, b) => a - b).join(), 'epoch shard chart');
  const rows = await page.$$eval('tr[data-node]', (r) => r.map((row) => row.dataset.node).sort());
  equal(rows.join(), epoch.committee.map((m) => m.node_id).sort().join(), 'epoch committee');
  // Each member's network address and BLS key (base64), as /v1/epochs/{n} gives them.
  const members = await page.$$eval('tr[data-node]', (r) => r.map((row) => [row.dataset.node,
    row.querySelector('[data-field="network_address"]')?.dataset.value, row.querySelector('[data-field="public_key"]')?.dataset.value]));
  const want = (m) => [m.node_id, m.network_address ?? '', m.public_key ?? ''];
  equal(JSON.stringify(members.sort()), JSON.stringify(epoch.committee.map(want).sort()), 'epoch committee addresses and keys');
  check(epoch.committee.every((m) => m.public_key && m.network_address), 'the sampled committee has keys and addresses');
  await shot(page, 'epoch');
  await page.close();
}

// Node: keys, stake, exchange rate and reward history.
{
  const id = env('EXPLORER_NODE_ID');
  const node = await api(`/v1/nodes/${id}`);
  const { page, errors } = await open(`/node/${id}`);
  noErrors(errors, 'node');
  for (const key of ['node_id', 'network_address', 'public_key', 'network_public_key', 'commission_rate_bps', 'pool_wal', 'staked_principal']) {
    equal(await field(page, key), node[key], `node ${key}`);
  }
  equal(await text(page, '[data-field="name"]'), node.name, 'node name');
  equal(await field(page, 'shards'), node.shards.length, 'node shards');
  const { history } = await api(`/v1/nodes/${id}/history`);
  check(history.filter((e) => e.reward !== null).length >= 2, 'the sampled node has a reward history');
  const lines = await page.$$eval('.chart polyline', (ps) => ps.map((p) => p.getAttribute('points').split(' ').length));
  const points = (key) => history.filter((e) => e[key] !== null).length;
  equal(lines.join(), [points('stake'), points('exchange_rate')].join(), 'node stake and exchange-rate plots');
  const rate = await page.$$eval('.chart [data-series="WAL per share"] title', (t) => t.map((e) => e.textContent));
  equal(rate.join(' | '), [...history].reverse().filter((e) => e.exchange_rate !== null)
    .map((e) => `WAL per share, epoch ${e.epoch}: ${Number(e.exchange_rate).toFixed(4)}`).join(' | '), 'node exchange-rate plot values');
  const rows = await page.$$eval('tr[data-epoch]', (r) => r.map((row) => [row.dataset.epoch,
    row.querySelector('[data-field="reward"]')?.dataset.value, row.querySelector('[data-field="commission"]')?.dataset.value]));
  equal(JSON.stringify(rows), JSON.stringify(history.map((e) => [String(e.epoch), String(e.reward ?? ''), String(e.commission ?? '')])),
    'node rewards and commission per epoch');
  await shot(page, 'node');
  await page.close();
}

// Events: newest first, the next (older) page, and newer events added at the top while open.
{
  const first = await api('/v1/events?order=desc&limit=50');
  const { page, errors } = await open('/events');
  noErrors(errors, 'events');
  const shown = () => page.$$eval('table > tbody > tr[data-event]', (r) => r.map((row) => row.dataset.key));
  const keys = (events) => events.map((e) => `${e.checkpoint}.${e.tx_index}.${e.event_index}`);
  equal((await shown()).join(), keys(first.events).join(), 'events page, newest first');
  await shot(page, 'events');
  if (first.next_cursor) {
    const second = await api(`/v1/events?order=desc&limit=50&cursor=${first.next_cursor}`);
    await page.click('text=older events', { timeout: 5000 });
    await page.waitForFunction(() => location.search.includes('cursor=') && document.querySelector('#view').dataset.state === 'ready', null, { timeout: 5000 });
    equal((await shown()).join(), keys(second.events).join(), 'second (older) events page');
  } else {
    check(false, 'the events fixture fits on one page: paging is not exercised');
  }
  await page.close();
}
// The live list asks for events after the newest shown: one newer event, served once, appears on top.
{
  const first = await api('/v1/events?order=desc&limit=50');
  const newest = first.events[0];
  const fresh = { ...newest, checkpoint: newest.checkpoint + 1, tx_index: 0, event_index: 0, type: 'BlobCertified' };
  const freshKey = `${fresh.checkpoint}.0.0`;
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  const asked = [];
  await page.route((url) => url.pathname === '/v1/events' && url.searchParams.get('order') === 'asc', async (route) => {
    const cursor = new URL(route.request().url()).searchParams.get('cursor');
    asked.push(cursor);
    if (asked.length === 1) await route.fulfill({ json: { events: [fresh], next_cursor: null } });
    else await route.continue();
  });
  await page.goto(`${base}/events`);
  await page.waitForSelector(`tbody tr[data-key="${freshKey}"]`, { timeout: 15_000 })
    .catch(() => check(false, 'live events: a newer event did not appear'));
  const order = await page.$$eval('tbody tr[data-event]', (r) => r.slice(0, 2).map((row) => row.dataset.key));
  equal(order.join(), [freshKey, `${newest.checkpoint}.${newest.tx_index}.${newest.event_index}`].join(), 'live events: the newer event on top');
  equal(asked[0], `${newest.checkpoint}.${newest.tx_index}.${newest.event_index}`, 'live events: asks for events after the newest shown');
  // The next refresh continues after the event just added, so nothing is added twice.
  // (Polled rather than a fixed sleep: on a loaded machine the 5 s timer fires late.)
  for (const started = Date.now(); asked.length < 2 && Date.now() - started < 20_000;) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await new Promise((resolve) => setTimeout(resolve, 300)); // that poll's answer drawn
  equal(asked[1], freshKey, 'live events: the next refresh continues after the added event');
  equal(await page.$$eval(`tbody tr[data-key="${freshKey}"]`, (r) => r.length), 1, 'live events: the added event once');
  noErrors(errors, 'live events');
  await page.close();
}

// Unknown things: a clear "not found", not a blank page.
for (const path of ['/blob/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', `/node/0x${'ab'.repeat(32)}`, '/epoch/999']) {
  const { page, errors } = await open(path, { expect: 'not-found' });
  check((await text(page, '#view h2')) === 'Not found', `${path}: no "Not found" heading`);
  noErrors(errors.filter((e) => !e.includes('404')), path);
  if (path.startsWith('/blob')) await shot(page, 'not-found');
  await page.close();
}

// A phone: nothing wider than the screen.
{
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  for (const [name, path] of [['home', '/'], ['blob', `/blob/${blobId}`], ['node', `/node/${env('EXPLORER_NODE_ID')}`]]) {
    const { page, errors } = await open(path, { ctx: phone });
    noErrors(errors, `phone ${name}`);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(overflow <= 1, `phone ${name}: the page is ${overflow} px wider than the screen`);
    await shot(page, `phone-${name}`);
    await page.close();
  }
  await phone.close();
}

await browser.close();
if (failures) {
  console.log(`explorer: ${failures} checks failed`);
  process.exit(1);
}
console.log('explorer: all checks passed');
