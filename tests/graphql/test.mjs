// Strata's GraphQL endpoint checked by the reference implementation.
// Needs STRATA_GQL_URL (http://127.0.0.1:PORT) of a running strata-front
// whose stratad is live; run.sh starts both. Exits non-zero on a failure.
import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import {
  buildSchema, buildClientSchema, getIntrospectionQuery, printSchema, parse, validate,
  GraphQLError, Kind, print,
} from 'graphql';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { areaSteps } from './areas.mjs';
import { overlapSteps } from './overlap.mjs';

const base = process.env.STRATA_GQL_URL;
if (!base) throw new Error('STRATA_GQL_URL is not set');
const wsUrl = base.replace(/^http/, 'ws') + '/graphql';
// Copies of ../shared/spec/graphql/ (the seed report's schema and documents).
const seedDocs = new URL('./seed-subscription-documents.graphql', import.meta.url).pathname;
const seedSchema = new URL('./seed-storage-schema.graphql', import.meta.url).pathname;
let failures = 0;
const results = [];

async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    results.push(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failures++;
    results.push(`FAIL ${name}: ${e.stack || e}`);
  }
  console.log(results[results.length - 1]);
}

async function post(query, variables, operationName) {
  const r = await fetch(base + '/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables, operationName }),
  });
  return { status: r.status, body: await r.json() };
}

const sdl = await (await fetch(base + '/graphql/schema.graphql')).text();
let schema;

await step('our SDL builds with graphql-js', () => {
  schema = buildSchema(sdl);
  for (const [t, f] of [['Subscription', 'bufferPoolMetrics'], ['Subscription', 'lsmTreeEvents'],
    ['Subscription', 'storageTierMetrics'], ['Subscription', 'diskIoMetrics'],
    ['Subscription', 'pageEvents'], ['Subscription', 'columnarEvents']])
    assert.ok(schema.getType(t).getFields()[f], `${t}.${f}`);
  const sub = schema.getSubscriptionType().getFields();
  assert.equal(sub.bufferPoolMetrics.args[0].defaultValue, 1);
  assert.equal(sub.diskIoMetrics.args[0].defaultValue, 1);
  assert.equal(sub.storageTierMetrics.args[0].defaultValue, 5);
  // the seed's types and fields, exactly
  const seed = buildSchema(readFileSync(seedSchema, 'utf8')
    .replace('extend type Subscription', 'type Subscription') + '\nscalar BigInt\nscalar DateTime\ntype Query { a: Int }');
  for (const name of ['BufferPoolMetrics', 'LsmTreeEvent', 'StorageTierMetrics', 'DiskIoMetrics', 'Subscription']) {
    const want = seed.getType(name).getFields(), have = schema.getType(name).getFields();
    for (const [fname, fd] of Object.entries(want)) {
      assert.ok(have[fname], `${name}.${fname} missing`);
      assert.equal(String(have[fname].type), String(fd.type), `${name}.${fname} type`);
      assert.deepEqual(have[fname].args.map((a) => `${a.name}: ${a.type}`),
        fd.args.map((a) => `${a.name}: ${a.type}`), `${name}.${fname} arguments`);
    }
  }
});

await step('introspection: printSchema(buildClientSchema(reply)) equals the served SDL', async () => {
  const { body } = await post(getIntrospectionQuery());
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  const client = buildClientSchema(body.data);
  assert.equal(printSchema(client), printSchema(schema));
});

// Documents graphql-js and Strata must agree on: valid, or the same errors.
const docs = [
  '{ status { pid version } bufferPool { hitRate evictions } }',
  'query Q($t: String!, $n: Int = 5) { lsmScan(tree: $t, limit: $n) { items { key } next } }',
  '{ ...F a: ioStats { reads } } fragment F on Query { disks { path } }',
  '{ status @include(if: true) { pid @skip(if: false) } __typename }',
  '{ bufferPol { hitRate } }',
  '{ bufferPool }',
  '{ bufferPool { hitRate { x } } }',
  '{ lsmTree { name } }',
  '{ lsmTree(name: "a", nme: 1) { name } }',
  '{ lsmTree(name: 5) { name } }',
  '{ record(pageId: 1, slot: "x") { slot } }',
  'query Q { lsmTree(name: $n) { name } }',
  'query Q($n: String) { lsmTree(name: $n) { name } }',
  'query Q($n: String!) { status { pid } }',
  'query Q($n: Strin) { status { pid } }',
  'query Q($n: Status) { status { pid } }',
  '{ ...Nope }',
  '{ status { pid } } fragment F on Query { status { pid } }',
  '{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }',
  '{ ... on Status { pid } }',
  'query A { status { pid } } query A { status { pid } }',
  '{ status { pid } } query B { status { pid } }',
  'subscription S { bufferPoolMetrics { hitRate } diskIoMetrics { iops } }',
  '{ status @nope { pid } }',
  'query @skip(if: true) { status { pid } }',
  '{ status @include { pid } }',
  '{ lsmTree(name: "a", name: "b") { name } }',
  '{ status { pid pid: version } }',
  'mutation { lsmBatch(tree: "t", ops: [{put: {key: "a"}}]) { applied } }',
  'mutation { lsmBatch(tree: "t", ops: [{pt: {key: "a"}}]) { applied } }',
  'type T { a: Int }',
  '{ lsmTree(name: null) { name } }',
  '{ a',
  '{ a(b) }',
  '{ "unterminated }',
  '{ a ? }',
  // the storage areas, JSON literals included
  '{ jsonExtract(json: {a: [1, {b: null}], c: "x"}, path: "$.a") jsonKeys(json: {}) }',
  'query($d: JSON = {a: [1, "x"]}) { jsonContains(json: $d, value: [1, $d]) jsonKeys(json: $d) }',
  '{ jsonExtract(json: {a: 1}) }',
  '{ columnarAggregate(table: "t", fn: "sum") { value { x } } }',
  '{ columnarColumn(table: "t", column: "c", offset: "x") { values } }',
  'mutation { partitionedCreateTable(name: "t", key: "k", strategy: "range", partitions: [{nme: "p"}]) { name } }',
  'mutation { tiersPolicy(policy: {zstdLevel: "6"}) { zstdLevel } }',
  '{ tablespace(id: 1) { id objects } tiers { tiers { name } } partitions { id definition } }',
  // OverlappingFieldsCanBeMerged: sub-selections at depth 1-3, several reasons
  '{ status { pid } status { pid: version } }',
  '{ status { pid version } status { pid: version version: pid } }',
  '{ tiers { policy { capacities { hot } } } tiers { policy { capacities { hot: warm } } } }',
  '{ a: tiers { policy { zstdLevel } thresholds { hot } } a: tiers { policy { zstdLevel: lz4Acceleration } thresholds { hot: cold } } }',
  '{ status { pid } status { pid } bufferPool { hits } bufferPool { hits } }',
  '{ a: status { pid } a: bufferPool { hits } }',
  // fragments on one side, both sides, nested, cyclic; the sides swapped in step I
  '{ status { pid } ...F } fragment F on Query { status { pid: version } }',
  '{ ...A ...B } fragment A on Query { x: status { pid } } fragment B on Query { x: status { pid: version } }',
  '{ a: status { ...S pid } a: status { ...T } } fragment S on Status { version } fragment T on Status { version: pid pid: version }',
  '{ a: status { ...S } a: status { pid: version } } fragment S on Status { ...T } fragment T on Status { pid }',
  '{ ...A } fragment A on Query { a: status { pid } ...B } fragment B on Query { a: status { pid: version } ...A }',
  '{ a: status { ...S } a: status { ...S } } fragment S on Status { pid }',
  '{ ...A ...A a: bufferPool { hits } } fragment A on Query { a: status { pid } }',
  // inline fragments: other object types are mutually exclusive, downwards too
  '{ ... on Query { a: status { pid } } ... on Status { a: pid } }',
  '{ ... on Query { t: tiers { thresholds { hot } } } ... on TierStats { t: thresholds { hot: cold } } }',
  '{ tierPage(id: 1) { ... on TierPage { data } ... on TierPageData { data } } }',
  '{ x: columnarProject(table: "t") { ... on ColumnarProjectPage { rows } ... on Partition { rows } } }',
  '{ ... { a: status { pid } } ... { a: status { pid: version } } }',
  '{ ... on Query { status { pid } } status { pid: startedAt } }',
  // arguments: values, variables, absent, object field order, block strings
  '{ lsmTree(name: "a") { name } lsmTree(name: "b") { name } }',
  '{ lsmTree(name: "a") { name } lsmTree(name: """a""") { name } }',
  'query Q($s: String!) { lsmTree(name: $s) { name } lsmTree(name: "a") { name } }',
  '{ tierPage(id: 1) { tier } tierPage(id: 1, withData: false) { tier } }',
  '{ jsonKeys(json: {a: 1, b: [2]}) jsonKeys(json: {b: [2], a: 1}) }',
  '{ jsonKeys(json: {a: 1}) jsonKeys(json: {a: 1.0}) }',
  '{ lsmTree(name: "a") { name } lsmTree(name: "a") { name } }',
  // list vs non-list, nullable vs non-null, leaf vs composite
  '{ x: disks { path } ... on Status { x: pid } }',
  '{ a: lsmGet(tree: "t", key: "k") { key } ... on Status { a: version } }',
  // unknown fields and types, meta fields
  '{ nope nope: status { pid } }',
  '{ a: nope(x: 1) a: nope(x: 2) }',
  '{ a: nope { b } a: nope { b: c } }',
  '{ ... on Nope { a: status { pid } } a: bufferPool { hits } }',
  '{ __typename __typename: status { pid } }',
  '{ a: __typename a: __typename }',
  '{ __schema { types { name } } __schema { types { name: kind } } }',
  // long names and reasons are abbreviated; at most 20 locations a side
  `{ ${'x'.repeat(1100)}: status { pid } ${'x'.repeat(1100)}: bufferPool { hits } }`,
  `{ status { ${Array.from({ length: 25 }, (_, i) => `f${i}: pid`).join(' ')} } status { ${Array.from({ length: 25 }, (_, i) => `f${i}: version`).join(' ')} } }`,
  // the complexity budget: graphql-js aborts validation
  `{ ${'status { pid } '.repeat(447)}}`,
  `{ ${'status { pid } '.repeat(448)}}`,
  // the introspection depth rule
  '{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }',
  '{ __type(name: "Query") { ...T } } fragment T on __Type { fields { type { ...U } } } fragment U on __Type { fields { type { fields { name } } } }',
];

await step(`validation agrees with graphql-js on ${docs.length} documents`, async () => {
  const problems = [];
  for (const doc of docs) {
    let want;
    try {
      want = validate(schema, parse(doc)).map((e) => e.toJSON());
    } catch (e) {
      if (!(e instanceof GraphQLError)) throw e;
      want = [e.toJSON()];
    }
    const { body } = await post(doc, doc.includes('$t: String!') ? { t: 'nope' } : undefined);
    const got = body.data === undefined ? (body.errors || []) : [];
    const norm = (errs) => errs.map((e) => JSON.stringify({ message: e.message, locations: e.locations }))
      .sort();
    if (JSON.stringify(norm(want)) !== JSON.stringify(norm(got)))
      problems.push(`${doc}\n  graphql-js: ${norm(want).join('\n              ')}\n  strata:     ${norm(got).join('\n              ')}`);
  }
  assert.equal(problems.length, 0, problems.join('\n'));
});

await overlapSteps(step, post, schema);

await areaSteps(step, post);

const client = createClient({ url: wsUrl, webSocketImpl: WebSocket, lazy: true, retryAttempts: 0 });

function collect(query, variables, want, timeoutMs) {
  return new Promise((resolve, reject) => {
    const got = [];
    let dispose;
    const timer = setTimeout(() => { dispose(); resolve(got); }, timeoutMs);
    dispose = client.subscribe({ query, variables }, {
      next: (v) => {
        if (v.errors) { clearTimeout(timer); dispose(); reject(new Error(JSON.stringify(v.errors))); return; }
        got.push(v.data);
        if (got.length >= want) { clearTimeout(timer); dispose(); resolve(got); }
      },
      error: (e) => { clearTimeout(timer); reject(e instanceof Error ? e : new Error(JSON.stringify(e))); },
      complete: () => {},
    });
  });
}

// Work on the storage while subscriptions run: REST and mutations.
let working = true;
async function work() {
  await post('mutation { lsmCreateTree(name: "gqltest", options: {memtableBytes: 65536}) { name } }');
  let i = 0;
  while (working) {
    const ops = [];
    for (let k = 0; k < 50; k++, i++) ops.push(`{put: {key: "k${i}", value: "${'v'.repeat(200)}${i}"}}`);
    await post(`mutation { lsmBatch(tree: "gqltest", ops: [${ops.join(',')}]) { applied } }`);
    const p = await post('mutation { allocatePage { pageId } }');
    const id = p.body.data?.allocatePage?.pageId;
    if (id) await post(`mutation { insertRecord(pageId: "${id}", data: "aGVsbG8=") { slot } }`);
    await post('mutation { flushBufferPool { flushed } }');
    await fetch(base + '/api/v1/storage/status');
    await new Promise((r) => setTimeout(r, 100));
  }
}

const seedText = readFileSync(seedDocs, 'utf8');
const seedOps = parse(seedText).definitions;

await step('the seed documents validate with graphql-js against our schema', () => {
  assert.deepEqual(validate(schema, parse(seedText)).map((e) => e.message), []);
});

const workDone = work();

await step('bufferPoolMetrics: two or more updates with real, changing values', async () => {
  const got = await collect('subscription { bufferPoolMetrics(intervalSeconds: 1) { totalPages usedPages freePages dirtyPages hitRate evictions timestamp hits misses } }', {}, 3, 15000);
  assert.ok(got.length >= 2, `got ${got.length} updates`);
  const m = got.map((d) => d.bufferPoolMetrics);
  assert.ok(m.every((x) => x.totalPages > 0 && typeof x.evictions === 'string' && /^\d+$/.test(x.evictions)));
  assert.ok(m.every((x) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(x.timestamp)), m[0].timestamp);
  const changing = ['usedPages', 'dirtyPages', 'hits', 'misses', 'hitRate', 'freePages']
    .filter((k) => new Set(m.map((x) => JSON.stringify(x[k]))).size > 1);
  assert.ok(changing.length > 0, `no value changed across ${JSON.stringify(m)}`);
});

await step('diskIoMetrics: two or more updates with real, changing values', async () => {
  const got = await collect('subscription { diskIoMetrics(intervalSeconds: 1) { readsPerSec writesPerSec writeThroughputMbps iops avgWriteLatency timestamp } }', {}, 3, 15000);
  assert.ok(got.length >= 2, `got ${got.length} updates`);
  const m = got.map((d) => d.diskIoMetrics);
  const changing = ['readsPerSec', 'writesPerSec', 'writeThroughputMbps', 'iops', 'avgWriteLatency']
    .filter((k) => new Set(m.map((x) => JSON.stringify(x[k]))).size > 1);
  assert.ok(changing.length > 0, `no value changed across ${JSON.stringify(m)}`);
  assert.ok(m.some((x) => x.writesPerSec > 0), 'writes happen during the test');
});

await step('storageTierMetrics: updates with real values from TierStats', async () => {
  const st = await post('mutation { a: tierStorePage(data: "dGllcg==") { pageId } b: tierStorePage(data: "dGllcjI=") { pageId } }');
  assert.equal(st.body.errors, undefined, JSON.stringify(st.body.errors));
  const { body } = await post('{ tierStats { hotPages warmPages coldPages totalMigrations } }');
  const q = body.data.tierStats;
  const got = await collect('subscription { storageTierMetrics(intervalSeconds: 1) { hotPages warmPages coldPages totalMigrations avgCompressionRatio bytesSaved timestamp migrations compressionRatio } }', {}, 2, 6000);
  assert.ok(got.length >= 1, `got ${got.length} updates`);
  for (const { storageTierMetrics: m } of got) {
    assert.equal(m.hotPages + m.warmPages + m.coldPages, q.hotPages + q.warmPages + q.coldPages, JSON.stringify([m, q]));
    assert.ok(m.hotPages + m.warmPages + m.coldPages >= 2);
    assert.match(m.totalMigrations, /^\d+$/);
    assert.ok(BigInt(m.totalMigrations) >= BigInt(q.totalMigrations));
    assert.equal(m.migrations, m.totalMigrations);
    assert.equal(m.compressionRatio, m.avgCompressionRatio);
    assert.ok(m.avgCompressionRatio > 0);
    assert.match(m.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  }
  for (const id of [st.body.data.a.pageId, st.body.data.b.pageId])
    await post(`mutation { tierDeletePage(pageId: "${id}") { deleted } }`);
});

await step('columnarEvents: BatchInserted after a columnarInsert mutation', async () => {
  const t = `gev${process.pid}`;
  const c = await post(`mutation { columnarCreateTable(name: "${t}", columns: [{name: "id", type: "int64"}, {name: "s", type: "string"}]) { name } }`);
  assert.equal(c.body.errors, undefined, JSON.stringify(c.body.errors));
  let ins;
  setTimeout(() => { ins = post(`mutation { columnarInsert(table: "${t}", rows: [{id: 1, s: "a"}, {id: 2}, {id: 3, s: "c"}]) { rows } }`); }, 400);
  const got = await collect('subscription($t: String) { columnarEvents(tableName: $t) { eventType tableName rows columns timestamp } }', { t }, 1, 6000);
  const r = await ins;
  assert.equal(r.body.errors, undefined, JSON.stringify(r.body.errors));
  assert.ok(got.length >= 1, 'no columnar event');
  assert.deepEqual({ ...got[0].columnarEvents, timestamp: undefined },
    { eventType: 'BatchInserted', tableName: t, rows: '3', columns: 2, timestamp: undefined });
  await post(`mutation { columnarDropTable(name: "${t}") { dropped } }`);
});

for (const op of seedOps) {
  const name = op.name.value;
  await step(`seed document ${name} runs unchanged`, async () => {
    const vars = name === 'LsmTreeEvents' ? { treeName: 'gqltest' } : { intervalSeconds: 1 };
    if (name === 'LsmTreeEvents') {
      // a flush of the tree while subscribed
      setTimeout(() => post('mutation { lsmFlush(tree: "gqltest") { flushed } }'), 700);
    }
    const want = 1;
    const got = await collect(print(op), vars, want, 10000);
    assert.ok(got.length >= want, `${name}: got ${got.length} events`);
    for (const d of got) {
      const v = Object.values(d)[0];
      for (const sel of op.selectionSet.selections[0].selectionSet.selections)
        assert.ok(sel.name.value in v, `${name}: ${sel.name.value} missing`);
      if (name === 'LsmTreeEvents')
        assert.ok(['flush', 'compaction', 'compaction_progress', 'migration', 'stall'].includes(v.eventType));
    }
  });
}

working = false;
await workDone;
await client.dispose();

// graphql-transport-ws protocol errors, with a raw socket.
function rawSession(actions) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl, 'graphql-transport-ws');
    const seen = [];
    const timer = setTimeout(() => { ws.terminate(); reject(new Error(`no close; saw ${JSON.stringify(seen)}`)); }, 8000);
    ws.on('open', () => actions(ws));
    ws.on('message', (m) => seen.push(JSON.parse(m.toString())));
    ws.on('close', (code, reason) => { clearTimeout(timer); resolve({ code, reason: reason.toString(), seen }); });
    ws.on('error', (e) => { clearTimeout(timer); reject(e); });
  });
}
const send = (ws, m) => ws.send(typeof m === 'string' ? m : JSON.stringify(m));
const sub = (id) => ({ id, type: 'subscribe', payload: { query: 'subscription { bufferPoolMetrics { hitRate } }' } });

await step('close 4408 when connection_init does not come in time', async () => {
  const r = await rawSession(() => {});
  assert.equal(r.code, 4408, r.reason);
});
await step('close 4401 on subscribe before connection_ack', async () => {
  const r = await rawSession((ws) => send(ws, sub('1')));
  assert.equal(r.code, 4401, r.reason);
});
await step('close 4429 on a second connection_init; ping gets pong', async () => {
  const r = await rawSession((ws) => {
    send(ws, { type: 'connection_init', payload: {} });
    send(ws, { type: 'ping' });
    setTimeout(() => send(ws, { type: 'connection_init' }), 200);
  });
  assert.equal(r.code, 4429, r.reason);
  assert.deepEqual(r.seen.map((m) => m.type), ['connection_ack', 'pong']);
});
await step('close 4409 on a duplicate subscription id', async () => {
  const r = await rawSession((ws) => {
    send(ws, { type: 'connection_init' });
    send(ws, sub('dup'));
    setTimeout(() => send(ws, sub('dup')), 300);
  });
  assert.equal(r.code, 4409, r.reason);
});
await step('close 4400 on an invalid message', async () => {
  for (const bad of ['not json', { type: 'nope' }, { type: 'subscribe', id: 'x' }]) {
    const r = await rawSession((ws) => {
      send(ws, { type: 'connection_init' });
      setTimeout(() => send(ws, bad), 100);
    });
    assert.equal(r.code, 4400, `${JSON.stringify(bad)}: ${r.code} ${r.reason}`);
  }
});
await step('queries and mutations over WebSocket: next then complete; errors as error', async () => {
  const r = await rawSession((ws) => {
    send(ws, { type: 'connection_init' });
    send(ws, { id: 'q', type: 'subscribe', payload: { query: '{ status { pid } }' } });
    send(ws, { id: 'bad', type: 'subscribe', payload: { query: '{ nope }' } });
    setTimeout(() => ws.close(1000), 800);
  });
  const q = r.seen.filter((m) => m.id === 'q').map((m) => m.type);
  assert.deepEqual(q, ['next', 'complete']);
  const bad = r.seen.find((m) => m.id === 'bad');
  assert.equal(bad.type, 'error');
  assert.match(bad.payload[0].message, /Cannot query field "nope"/);
});

await step('HTTP: GET runs queries, refuses mutations; errors keep partial data', async () => {
  const g = await (await fetch(base + '/graphql?query=' + encodeURIComponent('{ status { pid } }'))).json();
  assert.ok(g.data.status.pid > 0);
  const m = await fetch(base + '/graphql?query=' + encodeURIComponent('mutation { flushBufferPool { flushed } }'));
  assert.equal(m.status, 405);
  const p = await post('{ status { pid } lsmTree(name: "no-such-tree") { name } }');
  assert.equal(p.body.data, null); // lsmTree is non-null: the error reaches data
  assert.match(p.body.errors[0].message, /not_found/);
  assert.deepEqual(p.body.errors[0].path, ['lsmTree']);
  const p2 = await post('{ status { pid } lsmGet(tree: "no-such-tree", key: "k") { key } }');
  assert.ok(p2.body.data.status.pid > 0);
});

console.log(`\n${results.length - failures}/${results.length} passed`);
process.exit(failures ? 1 : 0);
