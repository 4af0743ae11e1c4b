// The dashboard's script, as strata-front serves it, against a live
// frontend: node dashboard.test.mjs http://127.0.0.1:PORT
// (STRATA_TOKEN: the frontend's read token, when it has a token file).
//
// Driven by tests/integration/test_dashboard.py, which starts the
// processes and, when this script prints STOP_STRATAD / START_STRATAD,
// does so and answers "ok" on stdin. Prints PASS at the end; exit 77 when
// no WebSocket client is available (Node < 22 without the ws package).
import assert from 'node:assert/strict';
import readline from 'node:readline';
import vm from 'node:vm';
import { restClient, until, webSocketClass } from '../node/page_test.mjs';

const base = process.argv[2];
const token = process.env.STRATA_TOKEN || '';
const WS = webSocketClass();

// Every stream URL the dashboard opens, and every ticket request it makes:
// with a token, each (re)connection fetches a ticket with the token in the
// Authorization header and puts only the ticket in the URL.
const wsUrls = [];
class RecordingWS extends WS {
  constructor(url, ...rest) { wsUrls.push(String(url)); super(url, ...rest); }
}
const ticketCalls = [];
const recordingFetch = (url, init) => {
  if (String(url).endsWith('/api/v1/ws/ticket'))
    ticketCalls.push({ url: String(url), init });
  return fetch(url, init);
};
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();

async function ask(what) {
  console.log(what);
  const { value, done } = await lines.next();
  assert.ok(!done && value.trim() === 'ok', `driver answered ${value} to ${what}`);
}

const rest = restClient(base, token);

// 1. The page and the script it names, as served.
const page = await fetch(base + '/dashboard');
assert.equal(page.status, 200);
const html = await page.text();
const src = html.match(/<script src="([^"]+)"><\/script>/)?.[1];
assert.ok(src, 'the page names its script');
const code = await (await fetch(base + src)).text();
const sandbox = { module: { exports: {} } };
vm.runInNewContext(code, sandbox, { filename: src });
const D = sandbox.module.exports;
for (const fn of ['createState', 'handleMessage', 'resumeQuery', 'wsUrl', 'fetchTicket', 'Dashboard'])
  assert.equal(typeof D[fn], 'function', fn);

// 2. Messages the stream sends rarely, from their documented shapes.
{
  const st = D.createState();
  D.handleMessage(st, { message_type: 'lagged', data: { dropped: 7 } }, 1000);
  D.handleMessage(st, { message_type: 'error', data: { code: 'bad_request', message: 'x' } }, 1000);
  D.handleMessage(st, { message_type: 'connection', data: { stratad: 'down', stream: 'all' } }, 1000);
  D.handleMessage(st, { message_type: 'gap', data: { family: 'io', from_seq: 3, to_seq: 9, epoch: 5, reason: 'gone' } }, 1000);
  D.handleMessage(st, { message_type: 'no_such_type', data: {} }, 1000);
  D.handleMessage(st, 'not an object', 1000);
  assert.equal(st.lagged, 1);
  assert.equal(st.dropped, 7);
  assert.equal(st.errors, 1);
  assert.equal(st.conn.stratad, 'down');
  assert.equal(st.gaps, 1);
  assert.equal(st.notices.length, 4);
  const ev = (seq, epoch) => ({ message_type: 'lsm_event', seq, epoch,
    data: { MemtableFlushed: { tree_name: 't', entries: 1, size_bytes: 2, timestamp: 1 } } });
  assert.equal(D.handleMessage(st, ev(4, 5), 1000), 'lsm');
  assert.equal(D.handleMessage(st, ev(4, 5), 1000), null, 'a duplicate seq is not counted');
  assert.equal(st.duplicates, 1);
  assert.equal(D.resumeQuery(st), 'resume_from=lsm:4&epoch=5');
  D.handleMessage(st, { message_type: 'epoch', data: { family: 'lsm', old_epoch: 5, epoch: 6 } }, 1000);
  assert.equal(st.epoch, 6);
  assert.equal(D.resumeQuery(st), '', 'a new epoch starts every family over');
  assert.equal(D.handleMessage(st, ev(1, 6), 1000), 'lsm');
  assert.equal(st.families.lsm.total, 2);
}

// 3. A live connection. Without the token (when one is needed) the
// handshake is refused and the dashboard keeps retrying.
const observed = [];   // buffer-pool seqs in the order the dashboard took them
let lastBp = null;
const dash = new D.Dashboard({
  wsBase: base.replace(/^http/, 'ws'), WebSocket: RecordingWS, token: '',
  fetch: recordingFetch, httpBase: base,
  now: () => Date.now(), setTimeout, clearTimeout,
  onChange: (st) => {
    const s = st.families['buffer-pool'].lastSeq;
    if (s !== null && s !== lastBp) observed.push({ seq: s, epoch: st.epoch });
    lastBp = s;
  },
});
const st = dash.st;
let urlsWithoutToken = 0; // streams opened before the dashboard had the token
dash.connect();
if (token) {
  await until(() => st.conn.closes >= 1, 'the refused handshake');
  assert.equal(st.conn.opens, 0, 'a stream without the token was opened');
  urlsWithoutToken = wsUrls.length;
  dash.reconnect(token);
}
await until(() => st.conn.state === 'open' && st.conn.stratad === 'up', 'the stream and stratad up');
if (token) {
  assert.ok(/[?&]ticket=v1\./.test(dash.lastUrl), dash.lastUrl);
  assert.ok(!dash.lastUrl.includes(token) && !dash.lastUrl.includes('token='), dash.lastUrl);
  assert.equal(ticketCalls.length, 1);
  assert.equal(ticketCalls[0].init.method, 'POST');
  assert.equal(ticketCalls[0].init.headers.Authorization, `Bearer ${token}`);
}
await until(() => st.pool && st.io && st.tiers, 'PoolStats, IoStats and TierStats');
assert.equal(typeof st.pool.data.hit_rate, 'number');
assert.ok(st.pool.data.total_pages > 0);
assert.equal(typeof st.io.data.reads_per_sec, 'number');
assert.equal(typeof st.tiers.data.hot_pages, 'number');
assert.ok(D.rate(st, 'buffer-pool', Date.now()) > 0, 'a rate for buffer-pool');

// 4. LSM and tier events caused through REST show up in their lists.
await rest('POST', '/api/v1/storage/lsm', { name: 'dash' });
for (let i = 0; i < 20; i++)
  await rest('PUT', '/api/v1/storage/lsm/dash/put', { key: `k${i}`, value: 'v'.repeat(100) });
await rest('POST', '/api/v1/storage/lsm/dash/compact', {});
await until(() => st.lsm.length > 0, 'an LSM event');
assert.ok(st.lsm.every((r) => r.family === 'lsm'));
const tp = await rest('POST', '/api/v1/storage/tiers/pages', { data: Buffer.from('dashboard').toString('base64') });
await rest('POST', '/api/v1/storage/tiers/migrate', { page_id: tp.page_id, to_tier: 'Cold' });
await until(() => st.tierMoves.some((r) => r.variant === 'PageMigrated'), 'a PageMigrated event');

// 5. A dropped connection: the dashboard reconnects by itself, resuming
// after the last seq it took; buffer-pool seqs go on without a hole or a
// repeat.
const before = st.families['buffer-pool'].lastSeq;
const epoch = st.epoch;
dash.ws.close();
await until(() => st.conn.opens === 2 && st.conn.state === 'open', 'the reconnection');
const resumed = Number(dash.lastUrl.match(/buffer-pool:(\d+)/)?.[1]);
assert.ok(resumed >= before, `resumed after ${resumed}, last seen before the drop ${before}: ${dash.lastUrl}`);
assert.ok(dash.lastUrl.includes(`epoch=${epoch}`), dash.lastUrl);
await until(() => st.families['buffer-pool'].lastSeq > before + 3, 'buffer-pool events after the reconnection');
const seqs = observed.filter((o) => o.epoch === epoch).map((o) => o.seq);
const i0 = seqs.indexOf(before);
assert.ok(i0 >= 0, 'the last seq before the drop was seen');
for (let i = i0 + 1; i < seqs.length; i++)
  assert.equal(seqs[i], seqs[i - 1] + 1, `buffer-pool seqs around the reconnection: ${seqs.slice(i0, i + 1)}`);
assert.equal(st.duplicates, 0);

// 6. Resuming from an epoch that is gone: one gap notice, the right epoch.
const gapsBefore = st.gaps;
dash.ws.close();
// between the close and the reconnection (0.5 s later): a stale epoch
await until(() => st.conn.state === 'reconnecting', 'the close');
st.epoch = 12345;
await until(() => st.gaps > gapsBefore, 'the gap message');
assert.ok(dash.lastUrl.includes('epoch=12345'), dash.lastUrl);
assert.ok(st.notices.some((n) => n.kind === 'gap' && n.text.includes('epoch_changed')));
await until(() => st.epoch === epoch, 'the live epoch again');

// 7. stratad goes away and comes back: the socket stays, the connection
// notices say so, and the new epoch replaces the old one.
await ask('STOP_STRATAD');
await until(() => st.conn.stratad === 'down', 'the stratad down notice');
assert.equal(st.conn.state, 'open', 'the stream stays open while stratad is down');
const opens = st.conn.opens;
await ask('START_STRATAD');
await until(() => st.conn.stratad === 'up', 'the stratad up notice', 30000);
await until(() => st.epoch !== epoch && st.pool && st.pool.seq !== undefined, 'events of the new epoch', 30000);
assert.equal(st.conn.opens, opens, 'no reconnection was needed');

dash.stop();

// Tickets: with a token, every stream URL carried a fresh ticket and never
// the token; without one (no token file), no ticket was asked for.
assert.ok(wsUrls.length >= 3, wsUrls.join('\n'));
if (token) {
  assert.ok(urlsWithoutToken >= 1);
  const withTicket = wsUrls.slice(urlsWithoutToken);
  assert.ok(withTicket.every((u) => /[?&]ticket=v1\./.test(u)),
            `every stream since the token came has a ticket: ${wsUrls.join('\n')}`);
  for (const u of wsUrls)
    assert.ok(!u.includes(token) && !u.includes('token='), `the token is in a stream URL: ${u}`);
  assert.equal(new Set(withTicket.map((u) => u.match(/ticket=([^&]+)/)[1])).size, withTicket.length,
               'a fresh ticket for each connection');
  assert.equal(ticketCalls.length, withTicket.length);
} else {
  assert.equal(ticketCalls.length, 0);
  assert.ok(wsUrls.every((u) => !u.includes('ticket=') && !u.includes('token=')), wsUrls.join('\n'));
}
{
  // A ticket request the frontend refuses: no stream is opened, the
  // dashboard says why and retries.
  let calls = 0;
  const urls = [];
  const d2 = new D.Dashboard({
    wsBase: 'ws://127.0.0.1:1', WebSocket: class { constructor(u) { urls.push(u); } close() {} },
    token: 'not-a-valid-token-0123456789', httpBase: 'http://x',
    fetch: () => { calls++; return Promise.resolve({ status: 401, ok: false,
      json: () => Promise.resolve({ error: { code: 'unauthorized', message: 'bad token' } }) }); },
    now: () => Date.now(), setTimeout, clearTimeout,
  });
  d2.connect();
  await until(() => d2.st.conn.ticketErrors >= 1, 'the refused ticket');
  assert.equal(urls.length, 0, 'no stream without a ticket');
  assert.equal(d2.st.conn.state, 'reconnecting');
  assert.ok(d2.st.conn.lastClose.reason.includes('401'), d2.st.conn.lastClose.reason);
  d2.stop();
  assert.equal(calls, 1);
}

// 8. The page code itself, on a minimal fake DOM: real messages rendered
// without an exception, as text.
{
  class El {
    constructor(tag) { this.tag = tag; this.children = []; this.text = ''; this.className = ''; this.value = ''; this.tBodies = []; }
    set textContent(t) { this.text = String(t); this.children = []; }
    get textContent() { return this.text + this.children.map((c) => c.textContent).join(' '); }
    appendChild(c) { this.children.push(c); return c; }
    addEventListener() {}
    focus() {}
  }
  const els = {};
  const document = {
    getElementById: (id) => {
      if (!els[id]) { els[id] = new El('x'); els[id].tBodies = [new El('tbody')]; }
      return els[id];
    },
    createElement: (tag) => new El(tag),
  };
  const sockets = [];
  class FakeWS { constructor(url) { this.url = url; sockets.push(this); } close() {} }
  const ctx = {
    document, Node: El, WebSocket: FakeWS, location: { protocol: 'http:', host: 'x' },
    sessionStorage: { getItem: () => null, setItem() {} },
    requestAnimationFrame: (f) => f(), setInterval: () => 0, setTimeout: () => 0, clearTimeout() {},
    fetch: () => Promise.resolve({ status: 200, ok: true, json: () => ({ pid: 1, epoch: 2 }) }),
    Date, Math, JSON, Number, String, Object, Promise,
  };
  ctx.window = ctx;
  vm.runInNewContext(code, ctx, { filename: src });
  assert.equal(sockets.length, 1, 'the page opened its stream');
  const ws = sockets[0];
  ws.onopen();
  const feed = (m) => ws.onmessage({ data: JSON.stringify(m) });
  feed({ message_type: 'connection', data: { stratad: 'up', stream: 'all' } });
  feed({ message_type: 'buffer_pool_event', seq: 1, epoch: 9, data: { PoolStats: { hit_rate: 0.5, total_pages: 8, used_pages: 4, dirty_pages: 1, free_pages: 4 } } });
  feed({ message_type: 'disk_io_event', seq: 1, epoch: 9, data: { IoStats: { reads_per_sec: 1, writes_per_sec: 2 } } });
  feed({ message_type: 'tier_event', seq: 1, epoch: 9, data: { TierStats: { hot_pages: 3 } } });
  feed({ message_type: 'lsm_event', seq: 1, epoch: 9, data: { MemtableFlushed: { tree_name: '<b>t</b>', entries: 1 } } });
  feed({ message_type: 'lagged', data: { dropped: 3 } });
  assert.ok(els.pool.textContent.includes('50.0 %'), els.pool.textContent);
  assert.ok(els.io.textContent.includes('reads/s'), els.io.textContent);
  assert.ok(els['lsm-events'].textContent.includes('tree_name=<b>t</b>'), 'data rendered as text');
  assert.ok(els['stratad-state'].textContent.includes('up'));
  assert.ok(els.message.textContent.includes('3 messages dropped'), els.message.textContent);
  assert.equal(els.families.tBodies[0].children.length, 6);
}

// 9. The page code with a token in sessionStorage: it fetches a ticket
// with the token in the Authorization header, and its stream URL carries
// the ticket, never the token.
{
  class El {
    constructor() { this.children = []; this.text = ''; this.value = ''; this.tBodies = []; }
    set textContent(t) { this.text = String(t); this.children = []; }
    get textContent() { return this.text; }
    appendChild(c) { this.children.push(c); return c; }
    addEventListener() {}
    focus() {}
  }
  const els = {};
  const document = {
    getElementById: (id) => (els[id] ||= Object.assign(new El(), { tBodies: [new El()] })),
    createElement: () => new El(),
  };
  const secret = 'page-token-0123456789abcdef';
  const sockets = [];
  const fetches = [];
  class FakeWS { constructor(url) { this.url = url; sockets.push(this); } close() {} }
  const ctx = {
    document, Node: El, WebSocket: FakeWS, location: { protocol: 'http:', host: 'x' },
    sessionStorage: { getItem: () => secret, setItem() {} },
    requestAnimationFrame: (f) => f(), setInterval: () => 0, setTimeout: () => 0, clearTimeout() {},
    fetch: (url, init) => {
      fetches.push({ url, init });
      if (url === '/api/v1/ws/ticket')
        return Promise.resolve({ status: 200, ok: true,
          json: () => Promise.resolve({ ticket: 'v1.read.99.abc.def', expires_in: 30, role: 'read' }) });
      return Promise.resolve({ status: 200, ok: true, json: () => ({ pid: 1, epoch: 2 }) });
    },
    Date, Math, JSON, Number, String, Object, Promise,
  };
  ctx.window = ctx;
  vm.runInNewContext(code, ctx, { filename: src });
  await until(() => sockets.length === 1, 'the page opened its stream after the ticket');
  const t = fetches.find((f) => f.url === '/api/v1/ws/ticket');
  assert.ok(t, 'a ticket was asked for');
  assert.equal(t.init.method, 'POST');
  assert.equal(t.init.headers.Authorization, `Bearer ${secret}`);
  assert.equal(sockets[0].url, 'ws://x/api/v1/ws/storage?ticket=v1.read.99.abc.def');
  assert.ok(!sockets[0].url.includes(secret));
}
console.log('PASS');
process.exit(0);
