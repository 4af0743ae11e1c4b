// The GraphQL explorer's script, as strata-front serves it, on a minimal
// fake DOM against a live frontend: node explorer.test.mjs http://127.0.0.1:PORT
// (STRATA_TOKEN: the frontend's admin token, when it has a token file).
//
// Driven by tests/integration/test_graphql_explorer.py, which starts the
// processes. Prints PASS at the end; exit 77 when no WebSocket client is
// available (Node < 22 without the ws package).
import assert from 'node:assert/strict';
import vm from 'node:vm';
import { restClient, until, webSocketClass } from '../node/page_test.mjs';

const base = process.argv[2];
const token = process.env.STRATA_TOKEN || '';
const WS = webSocketClass();

const rest = restClient(base, token);

// 1. The page and the script it names, as served.
const page = await fetch(base + '/graphql', { headers: { Accept: 'text/html' } });
assert.equal(page.status, 200);
const html = await page.text();
const src = html.match(/<script src="([^"]+)"><\/script>/)?.[1];
assert.ok(src, 'the page names its script');
const code = await (await fetch(base + src)).text();
const sandbox = { module: { exports: {} } };
vm.runInNewContext(code, sandbox, { filename: src });
const X = sandbox.module.exports;
for (const fn of ['init', 'operationType', 'parseVariables', 'summarizeSchema', 'skeleton'])
  assert.equal(typeof X[fn], 'function', fn);
assert.equal(X.operationType('# subscription { x }\nquery { a }'), 'query');
assert.equal(X.operationType('query A { a } subscription B { b }', 'B'), 'subscription');
assert.equal(X.operationType('fragment F on T { x }\nsubscription { b { ...F } }'), 'subscription');
assert.equal(X.operationType('{ s(x: "subscription {") }'), 'query');

// 2. A minimal DOM: elements by id, text content, listeners.
class El {
  constructor(tag) {
    this.tag = tag; this.children = []; this.text = ''; this.className = ''; this.value = '';
    this.disabled = false; this.title = ''; this.listeners = {};
  }
  set textContent(t) { this.text = String(t); this.children = []; }
  get textContent() { return this.text + this.children.map((c) => c.textContent).join('\n'); }
  appendChild(c) { this.children.push(c); return c; }
  addEventListener(type, fn) { (this.listeners[type] ||= []).push(fn); }
  fire(type, ev = {}) {
    for (const fn of this.listeners[type] || []) fn({ preventDefault() {}, ...ev });
  }
  focus() {}
  all() { return [this, ...this.children.flatMap((c) => c.all())]; }
}
const els = {};
for (const id of html.matchAll(/id="([^"]+)"/g)) els[id[1]] = new El('x');
const document = {
  getElementById: (id) => els[id] || null,
  createElement: (tag) => new El(tag),
};
const store = new Map();
const storage = { getItem: (k) => (store.has(k) ? store.get(k) : null), setItem: (k, v) => store.set(k, String(v)) };
let posts = 0;
const countingFetch = (url, opts) => { posts++; return fetch(url, opts); };
const sent = [];
const sockets = [];
class RecordingWS extends WS {
  constructor(url, proto) { super(url, proto); this.asked = { url, proto }; sockets.push(this); }
  send(d) { sent.push(JSON.parse(d)); return super.send(d); }
}
const ex = X.init({ document, fetch: countingFetch, WebSocket: RecordingWS, storage, base });
const result = () => els.result.textContent;
const status = () => els.status.textContent;

// 3. First open: the example query; the schema (after the token, if needed).
assert.equal(els.query.value, X.EXAMPLE_QUERY);
assert.equal(els.stop.disabled, true);
await ex.schemaLoaded;
if (token) {
  assert.ok(els['schema-status'].textContent.includes('HTTP 401'), els['schema-status'].textContent);
  els.run.fire('click');
  await until(() => status().startsWith('HTTP 401'), 'a 401 without the token');
  assert.ok(result().includes('unauthorized'), result());
  els.token.value = token;
  els.token.fire('change');
  assert.equal(store.get(X.TOKEN_KEY), token, 'the token is kept in sessionStorage');
}
await until(() => els['schema-status'].textContent.endsWith(' types'), 'the schema');
const schemaText = els.schema.textContent;
for (const want of ['bufferPool: BufferPoolStats!', 'lsmTreeEvents(treeName: String!): LsmTreeEvent!',
  'page(pageId: BigInt!): Page!', 'BufferPoolStats', 'totalPages: Int!', 'query (Query)',
  'mutation (Mutation)', 'subscription (Subscription)'])
  assert.ok(schemaText.includes(want), `schema panel lacks ${want}`);
// a click on a root field writes its skeleton
const rootLi = els.schema.all().find((e) => e.className === 'root' && e.text.startsWith('page('));
rootLi.fire('click');
assert.ok(els.query.value.startsWith('query($pageId: BigInt!) {\n  page(pageId: $pageId) {'), els.query.value);
els.query.value = X.EXAMPLE_QUERY;

// 4. The example query through the real frontend: real numbers.
els.run.fire('click');
await until(() => status().startsWith('HTTP '), 'the answer');
assert.equal(status(), 'HTTP 200', result());
const data = JSON.parse(result()).data;
const pool = await rest('GET', '/api/v1/storage/buffer-pool');
assert.equal(data.bufferPool.totalPages, pool.total_pages);
assert.ok(data.bufferPool.totalPages > 0);
assert.equal(typeof data.status.version, 'string');
assert.equal(store.get('strata-graphql-query'), X.EXAMPLE_QUERY, 'the editor is kept');

// 5. A GraphQL error is shown, as the server sent it.
els.query.value = '{ noSuchField }';
els.query.fire('keydown', { key: 'Enter', ctrlKey: true });
await until(() => status().includes('error'), 'the error');
const bad = JSON.parse(result());
assert.ok(Array.isArray(bad.errors) && bad.errors[0].message.includes('noSuchField'), result());
assert.equal(els.result.className, 'result bad');

// 6. Variables that are not JSON: a clear error, nothing sent.
const before = posts;
els.query.value = 'query($t: String!) { lsmTree(name: $t) { name } }';
els.variables.value = '{"t": ';
els.variables.fire('keydown', { key: 'Enter', metaKey: true });
assert.ok(result().startsWith('Variables are not valid JSON'), result());
assert.equal(posts, before, 'a request was sent with broken variables');
els.variables.value = '[1]';
els.run.fire('click');
assert.ok(result().includes('must be a JSON object'), result());
assert.equal(posts, before);

// 7. A subscription over graphql-transport-ws: a real event, caused by
// REST, then Stop sends complete.
await rest('POST', '/api/v1/storage/lsm', { name: 'gqlx' });
els.query.value = 'subscription Tree($t: String!) {\n  lsmTreeEvents(treeName: $t) { eventType treeName timestamp }\n}';
els.variables.value = '{"t": "gqlx"}';
els.run.fire('click');
assert.equal(sockets.length, 1, 'the subscription opened a WebSocket');
assert.deepEqual(sockets[0].asked, { url: base.replace(/^http/, 'ws') + '/graphql', proto: 'graphql-transport-ws' });
assert.equal(els.stop.disabled, false);
await until(() => status().startsWith('subscribed'), 'the subscription');
assert.equal(sockets[0].protocol, 'graphql-transport-ws');
const init = sent.find((m) => m.type === 'connection_init');
assert.deepEqual(init.payload, token ? { token } : {});
const subMsg = sent.find((m) => m.type === 'subscribe');
assert.deepEqual(subMsg.payload.variables, { t: 'gqlx' });
// the server registers the subscription after its ack; cause flushes until one arrives
for (let i = 0; !result().includes('"treeName": "gqlx"'); i++) {
  assert.ok(i < 40, `no lsmTreeEvents event after ${i} flushes: ${status()} ${result()}`);
  await rest('PUT', '/api/v1/storage/lsm/gqlx/put', { key: `k${i}`, value: 'v'.repeat(100) });
  await rest('POST', '/api/v1/storage/lsm/gqlx/flush', {});
  const end = Date.now() + 500;
  await until(() => result().includes('"treeName": "gqlx"') || Date.now() > end, 'an event');
}
assert.ok(result().includes('// event 1'), result());
assert.ok(result().includes('"eventType": "flush"'), result());
els.stop.fire('click');
assert.deepEqual(sent.at(-1), { id: subMsg.id, type: 'complete' });
assert.ok(status().startsWith('stopped after'), status());
assert.equal(els.stop.disabled, true);
await until(() => sockets[0].readyState === 3, 'the socket closed');

console.log('PASS');
process.exit(0);
