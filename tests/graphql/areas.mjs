// Queries and mutations of the storage areas against real data: each area's
// objects are created through mutations, then read back through queries,
// with the values asserted. Used by test.mjs; runnable alone against a
// running strata-front: STRATA_GQL_URL=http://127.0.0.1:PORT node areas.mjs
import assert from 'node:assert/strict';

// The data of a reply that must have no errors.
async function ok(post, query, variables) {
  const { status, body } = await post(query, variables);
  assert.equal(body.errors, undefined, `${query}\n-> ${JSON.stringify(body.errors)}`);
  assert.equal(status, 200);
  return body.data;
}

// The first error message of a reply that must fail.
async function fails(post, query, variables) {
  const { body } = await post(query, variables);
  assert.ok(body.errors && body.errors.length, `${query} should fail: ${JSON.stringify(body)}`);
  return body.errors[0].message;
}

const b64 = (s) => Buffer.from(s).toString('base64');
const sfx = `${process.pid}${Date.now() % 100000}`;

export async function areaSteps(step, post) {
  const col = `gcol${sfx}`;
  await step('columnar: create, insert (rows and columns), drop through mutations; queries read real values', async () => {
    const c = await ok(post, `mutation($n: String!) { columnarCreateTable(name: $n, columns: [
        {name: "id", type: "int64", nullable: false}, {name: "status", type: "string"},
        {name: "price", type: "float64"}]) { name rows columns { name type nullable } compressionRatio } }`, { n: col });
    assert.deepEqual(c.columnarCreateTable.columns.map((x) => `${x.name}:${x.type}:${x.nullable}`),
      ['id:int64:false', 'status:string:true', 'price:float64:true']);
    assert.equal(c.columnarCreateTable.rows, '0');
    const i1 = await ok(post, `mutation($n: String!, $rows: [JSON!]) { columnarInsert(table: $n, rows: $rows) { table rows } }`,
      { n: col, rows: [{ id: 1, status: 'paid', price: 9.5 }, { id: 2, status: 'open', price: 12 }] });
    assert.deepEqual(i1.columnarInsert, { table: col, rows: '2' });
    // column-wise, as a literal JSON object (not a variable)
    const i2 = await ok(post, `mutation { columnarInsert(table: "${col}", columns: {id: [3, 4], status: ["paid", null], price: [1.5, 20]}) { rows } }`);
    assert.equal(i2.columnarInsert.rows, '2');
    const q = await ok(post, `query($n: String!) {
        t: columnarTable(name: $n) { name rows rowGroups chunks storedBytes plainBytes }
        all: columnarTables { name }
        sum: columnarAggregate(table: $n, fn: "sum", column: "id", where: "status = paid") { table fn column value count rowsScanned }
        cnt: columnarAggregate(table: $n, fn: "count", where: "price < 10") { value count }
        max: columnarAggregate(table: $n, fn: "max", column: "price") { value }
        c: columnarColumn(table: $n, column: "price", limit: 3) { table column type values count nextOffset }
        p: columnarProject(table: $n, columns: ["id", "status"], where: "id >= 3") { columns rows count nextOffset }
        s: columnarColumnStats(table: $n, column: "status") { column rows nullCount min max encodings chunks { encoding rows } }
        none: columnarTable(name: "no_such_table") { name } }`, { n: col });
    assert.equal(q.t.rows, '4');
    assert.ok(Number(q.t.rowGroups) >= 1 && Number(q.t.storedBytes) > 0);
    assert.ok(q.all.some((t) => t.name === col));
    assert.deepEqual(q.sum, { table: col, fn: 'sum', column: 'id', value: 4, count: '2', rowsScanned: '4' });
    assert.deepEqual(q.cnt, { value: 2, count: '2' });
    assert.equal(q.max.value, 20);
    assert.deepEqual(q.c, { table: col, column: 'price', type: 'float64', values: [9.5, 12, 1.5], count: 3, nextOffset: '3' });
    assert.deepEqual(q.p, { columns: ['id', 'status'], rows: [{ id: 3, status: 'paid' }, { id: 4, status: null }], count: 2, nextOffset: null });
    assert.equal(q.s.rows, '4');
    assert.equal(q.s.nullCount, '1');
    assert.equal(q.s.min, 'open');
    assert.equal(q.s.max, 'paid');
    assert.equal(Object.values(q.s.encodings).reduce((a, b) => a + b, 0), q.s.chunks.length);
    assert.equal(q.none, null);
    assert.match(await fails(post, `mutation { columnarInsert(table: "${col}", rows: [{id: "x"}]) { rows } }`), /bad_request: row 0, column 'id'/);
    assert.match(await fails(post, `{ columnarAggregate(table: "${col}", fn: "sum", column: "nope") { value } }`), /not_found/);
    const d = await ok(post, `mutation { columnarDropTable(name: "${col}") { name dropped } }`);
    assert.deepEqual(d.columnarDropTable, { name: col, dropped: true });
    assert.equal((await ok(post, `{ columnarTable(name: "${col}") { name } }`)).columnarTable, null);
  });

  await step('tiers: store, update, migrate, read, delete pages; tiers, tierStats, tierPolicy, tiersPolicy', async () => {
    // no background migrations while the test moves pages (a read is an access, and new pages
    // may be demoted at once): the tiers the test sees are the ones it asked for
    const off = await ok(post, 'mutation { tiersPolicy(policy: {autoMigrate: false}) { autoMigrate } }');
    assert.equal(off.tiersPolicy.autoMigrate, false);
    const s = await ok(post, `mutation($d: String!) { tierStorePage(data: $d) { pageId tier length } }`, { d: b64('hello tiers') });
    const id = s.tierStorePage.pageId;
    assert.match(id, /^\d+$/);
    assert.deepEqual(s.tierStorePage, { pageId: id, tier: 'Hot', length: 11 });
    const u = await ok(post, `mutation($id: BigInt!, $d: String!) { tierUpdatePage(pageId: $id, data: $d) { pageId tier length } }`, { id, d: b64('new bytes!') });
    assert.equal(u.tierUpdatePage.length, 10);
    const m = await ok(post, `mutation($id: BigInt!) { tiersMigrate(pageId: $id, toTier: "cold") { migrated { pageId from to } tier } }`, { id });
    assert.deepEqual(m.tiersMigrate, { migrated: [{ pageId: id, from: 'Hot', to: 'Cold' }], tier: 'Cold' });
    const q = await ok(post, `query($id: BigInt!) {
        p: tierPage(id: $id, withData: true) { pageId tier length codec temperature accesses data segment }
        r: tierRead(pageIds: [$id]) { pageId tier data }
        none: tierPage(id: "999999999") { pageId }
        tiers { tiers { name codec capacityPages pages logicalBytes } thresholds { hot cold } policy { zstdLevel capacities { hot warm cold } } maxPageBytes }
        tierStats { hotPages warmPages coldPages totalMigrations avgCompressionRatio bytesSaved
          tiers { cold { pages logicalBytes storedBytes segments readLatencyUs { reads p99 } } }
          migrations { hotToCold coldToHot promotions demotions } thresholds { hot cold } corruptReads } }`, { id });
    assert.equal(q.p.tier, 'Cold');
    assert.equal(q.p.codec === 'zstd' || q.p.codec === 'none', true, q.p.codec);
    assert.equal(Buffer.from(q.p.data, 'base64').toString(), 'new bytes!');
    assert.ok(q.p.temperature > 0 && q.p.segment >= 0);
    assert.deepEqual(q.r, [{ pageId: id, tier: 'Cold', data: b64('new bytes!') }]);
    assert.equal(q.none, null);
    assert.deepEqual(q.tiers.tiers.map((t) => t.name), ['Hot', 'Warm', 'Cold']);
    assert.equal(q.tiers.tiers[2].codec, 'zstd');
    assert.ok(q.tiers.tiers[2].pages >= 1);
    assert.ok(q.tiers.policy.capacities.hot >= 1);
    assert.equal(q.tiers.maxPageBytes > 0, true);
    assert.ok(q.tierStats.coldPages >= 1);
    assert.ok(Number(q.tierStats.migrations.hotToCold) >= 1);
    assert.ok(Number(q.tierStats.totalMigrations) >= 1);
    assert.ok(q.tierStats.tiers.cold.pages >= 1 && Number(q.tierStats.tiers.cold.logicalBytes) >= 10);
    assert.ok(Number(q.tierStats.tiers.cold.readLatencyUs.reads) >= 1, 'the reads above were timed');
    const before = q.tiers.policy.zstdLevel;
    const want = before === 7 ? 8 : 7;
    const pol = await ok(post, `mutation($l: Int!) { tiersPolicy(policy: {zstdLevel: $l, halfLifeS: 600}) { zstdLevel halfLifeS capacities { hot } } }`, { l: want });
    assert.equal(pol.tiersPolicy.zstdLevel, want);
    assert.equal(pol.tiersPolicy.halfLifeS, 600);
    assert.equal((await ok(post, '{ tierPolicy { zstdLevel } }')).tierPolicy.zstdLevel, want);
    assert.match(await fails(post, 'mutation { tiersPolicy(policy: {zstdLevel: 99}) { zstdLevel } }'), /bad_request.*zstd_level/);
    const mt = await ok(post, 'mutation { tiersMaintenance { thresholdsChanged thresholds { hot cold } } }');
    assert.ok(mt.tiersMaintenance.thresholds.hot > 0);
    const pass = await ok(post, 'mutation { tiersMigrate(max: 10) { migrated { pageId } errors { code } pending } }');
    assert.ok(Array.isArray(pass.tiersMigrate.errors) && pass.tiersMigrate.pending >= 0);
    const del = await ok(post, `mutation($id: BigInt!) { tierDeletePage(pageId: $id) { pageId deleted } }`, { id });
    assert.deepEqual(del.tierDeletePage, { pageId: id, deleted: true });
    assert.equal((await ok(post, `query($id: BigInt!) { tierPage(id: $id) { tier } }`, { id })).tierPage, null);
    const on = await ok(post, 'mutation { tiersPolicy(policy: {autoMigrate: true}) { autoMigrate } }');
    assert.equal(on.tiersPolicy.autoMigrate, true);
  });

  const coll = `gdocs${sfx}`;
  await step('json: operators as queries; collections, documents, indexes and queries through mutations', async () => {
    const o = await ok(post, `query($doc: JSON!) {
        all: jsonExtract(json: $doc, path: "$..book[?@.price < 10].author")
        first: jsonExtract(json: $doc, path: "$..author", all: false)
        set: jsonSet(json: {a: {}}, path: "$.a.b.c", value: [1, {x: null}]) { result matched }
        setNull: jsonSet(json: {a: 1}, path: "$.a", value: null) { result matched }
        del: jsonDelete(json: {a: [1, 2, 3, 4]}, path: "$.a[?@ > 2]") { result removed }
        merge: jsonMerge(target: {a: "b", c: {d: 1}}, patch: {a: null, c: {e: 2}})
        contains: jsonContains(json: {tags: ["x", "y"]}, value: {tags: ["y"]})
        keys: jsonKeys(json: {b: 1, a: 2})
        len: jsonArrayLength(json: {a: [1, 2, 3]}, path: "$.a")
        agg: jsonAgg(docs: [{v: 1}, {v: 2}, {}], path: "$.v")
        oagg: jsonAgg(fn: "json_object_agg", docs: [{k: "a", v: 1}, {k: "b", v: 2}], keyPath: "$.k", valuePath: "$.v")
        parse: jsonParse(text: "[1, 2.5, \\"x\\"]") { result type } }`,
    { doc: { store: { book: [{ author: 'Rees', price: 8.95 }, { author: 'Waugh', price: 12.99 }] } } });
    assert.deepEqual(o.all, ['Rees']);
    assert.equal(o.first, 'Rees');
    assert.deepEqual(o.set, { result: { a: { b: { c: [1, { x: null }] } } }, matched: 1 });
    assert.deepEqual(o.setNull, { result: { a: null }, matched: 1 });
    assert.deepEqual(o.del, { result: { a: [1, 2] }, removed: 2 });
    assert.deepEqual(o.merge, { c: { d: 1, e: 2 } });
    assert.equal(o.contains, true);
    assert.deepEqual(o.keys, ['b', 'a']);
    assert.equal(o.len, 3);
    assert.deepEqual(o.agg, [1, 2]);
    assert.deepEqual(o.oagg, { a: 1, b: 2 });
    assert.deepEqual(o.parse, { result: [1, 2.5, 'x'], type: 'array' });
    assert.match(await fails(post, '{ jsonParse(text: "[1, 2") { type } }'), /bad_request: JSON/);
    // a JSON default value of a variable, and a variable inside a JSON literal
    const dv = await ok(post, 'query($d: JSON = {a: [1, "x"]}, $x: String = "x") { k: jsonKeys(json: $d) c: jsonContains(json: $d, value: {a: [$x]}) }');
    assert.deepEqual(dv, { k: ['a'], c: true });

    const c = await ok(post, `mutation($n: String!) { jsonCreateCollection(name: $n) { name tablespace createdUs indexes { path } } }`, { n: coll });
    assert.equal(c.jsonCreateCollection.name, coll);
    assert.ok(Number(c.jsonCreateCollection.createdUs) > 1.6e15);
    const put = await ok(post, `mutation($c: String!, $d1: JSON!) {
        a: jsonPutDocument(collection: $c, id: "b1", doc: $d1) { collection id created }
        b: jsonPutDocument(collection: $c, id: "b2", doc: {title: "Sword of Honour", price: 12.99, tags: ["war"]}) { created }
        c: jsonPutDocument(collection: $c, id: "b3", doc: {title: "Scoop", price: 7.5, tags: ["press"]}) { created }
        again: jsonPutDocument(collection: $c, id: "b3", doc: {title: "Scoop", price: 7.25, tags: ["press", "war"]}) { created } }`,
    { c: coll, d1: { title: 'Moby Dick', price: 8.99, tags: ['sea', 'whale'] } });
    assert.deepEqual(put.a, { collection: coll, id: 'b1', created: true });
    assert.equal(put.again.created, false);
    const scan = await ok(post, `query($c: String!) { jsonQuery(collection: $c, path: "$.price", op: "<", value: 9) { ids usedIndex scanned count truncated } }`, { c: coll });
    assert.deepEqual(scan.jsonQuery, { ids: ['b1', 'b3'], usedIndex: null, scanned: '3', count: 2, truncated: false });
    const ix = await ok(post, `mutation($c: String!) { jsonCreateIndex(collection: $c, path: "$.tags") { path canonical state entries } }`, { c: coll });
    assert.deepEqual(ix.jsonCreateIndex, { path: '$.tags', canonical: "$['tags']", state: 'ready', entries: '5' });
    const q = await ok(post, `query($c: String!) {
        doc: jsonDocument(collection: $c, id: "b1") { id doc }
        missing: jsonDocument(collection: $c, id: "nope") { id }
        page: jsonDocuments(collection: $c, limit: 2) { items { id doc } next }
        war: jsonQuery(collection: $c, path: "$.tags", op: "contains", value: "war", includeDocs: true) { ids docs usedIndex count }
        idx: jsonIndexes(collection: $c) { path state entries }
        one: jsonCollection(name: $c) { name indexes { path state } }
        all: jsonCollections { name } }`, { c: coll });
    assert.deepEqual(q.doc, { id: 'b1', doc: { title: 'Moby Dick', price: 8.99, tags: ['sea', 'whale'] } });
    assert.equal(q.missing, null);
    assert.deepEqual(q.page.items.map((i) => i.id), ['b1', 'b2']);
    assert.equal(q.page.next, 'b3');
    assert.deepEqual(q.war.ids, ['b2', 'b3']);
    assert.equal(q.war.usedIndex, '$.tags');
    assert.deepEqual(q.war.docs.map((d) => d.price), [12.99, 7.25]);
    assert.deepEqual(q.idx, [{ path: '$.tags', state: 'ready', entries: '5' }]);
    assert.deepEqual(q.one, { name: coll, indexes: [{ path: '$.tags', state: 'ready' }] });
    assert.ok(q.all.some((x) => x.name === coll));
    const rm = await ok(post, `mutation($c: String!) {
        d: jsonDeleteDocument(collection: $c, id: "b2") { id deleted }
        i: jsonDropIndex(collection: $c, path: "$.tags") { path dropped } }`, { c: coll });
    assert.deepEqual(rm, { d: { id: 'b2', deleted: true }, i: { path: '$.tags', dropped: true } });
    const after = await ok(post, `query($c: String!) { jsonQuery(collection: $c, path: "$.tags", op: "contains", value: "war") { ids usedIndex } }`, { c: coll });
    assert.deepEqual(after.jsonQuery, { ids: ['b3'], usedIndex: null });
    const dr = await ok(post, `mutation($c: String!) { jsonDropCollection(name: $c) { name dropped } }`, { c: coll });
    assert.deepEqual(dr.jsonDropCollection, { name: coll, dropped: true });
    assert.equal((await ok(post, `query($c: String!) { jsonCollection(name: $c) { name } }`, { c: coll })).jsonCollection, null);
  });

  const ts = `gts${sfx}`, pt = `gpt${sfx}`;
  await step('tablespaces and partitioned tables: create, insert, query with pruning, add/drop partitions, drop', async () => {
    const t = await ok(post, `mutation($n: String!) { tablespaceCreate(name: $n, quotaBytes: "104857600") { id name location kind usedBytes quotaBytes overQuota } }`, { n: ts });
    const tsid = t.tablespaceCreate.id;
    assert.equal(t.tablespaceCreate.name, ts);
    assert.equal(t.tablespaceCreate.quotaBytes, '104857600');
    assert.equal(t.tablespaceCreate.overQuota, false);
    const c = await ok(post, `mutation($n: String!, $ts: String!) { partitionedCreateTable(name: $n, key: "day", strategy: "range", tablespace: $ts,
        partitions: [{name: "p1", from: null, to: 100}, {name: "p2", from: 100, to: 200}]) {
        name key strategy tablespace rows partitions { id name definition rows } } }`, { n: pt, ts });
    const pc = c.partitionedCreateTable;
    assert.equal(pc.strategy, 'range');
    assert.equal(pc.tablespace, ts);
    assert.deepEqual(pc.partitions.map((p) => [p.name, p.definition]), [['p1', { from: null, to: 100 }], ['p2', { from: 100, to: 200 }]]);
    const p2id = pc.partitions[1].id;
    const ins = await ok(post, `mutation($n: String!, $rows: [JSON!]!) { partitionedInsert(table: $n, rows: $rows) { inserted byPartition } }`,
      { n: pt, rows: [{ day: 5, what: 'a' }, { day: 150, what: 'b' }, { day: -3, what: 'c' }] });
    assert.deepEqual(ins.partitionedInsert, { inserted: 3, byPartition: { p1: 2, p2: 1 } });
    assert.match(await fails(post, `mutation { partitionedInsert(table: "${pt}", rows: [{day: 999}]) { inserted } }`), /bad_request/);
    const q = await ok(post, `query($n: String!) {
        lt: partitionedQuery(table: $n, where: {day: {lt: 50}}) { rows scanned pruned count next }
        b: partitionedQuery(table: $n, where: {what: "b"}) { rows scanned pruned }
        f: partitionFor(table: $n, value: 150) { partition id default }
        parts: partitions(table: $n) { name rows }
        one: partitionedTable(name: $n) { name rows }
        all: partitionedTables { name }
        none: partitionedTable(name: "no_such") { name }
        ts: tablespaces { id name }
        t: tablespace(id: "${tsid}") { name objects usedBytes files } }`, { n: pt });
    assert.deepEqual(q.lt, { rows: [{ day: -3, what: 'c' }, { day: 5, what: 'a' }], scanned: ['p1'], pruned: ['p2'], count: 2, next: null });
    assert.deepEqual(q.b, { rows: [{ day: 150, what: 'b' }], scanned: ['p1', 'p2'], pruned: [] });
    assert.deepEqual(q.f, { partition: 'p2', id: p2id, default: false });
    assert.deepEqual(q.parts, [{ name: 'p1', rows: '2' }, { name: 'p2', rows: '1' }]);
    assert.deepEqual(q.one, { name: pt, rows: '3' });
    assert.ok(q.all.some((x) => x.name === pt));
    assert.equal(q.none, null);
    assert.ok(q.ts.some((x) => x.id === tsid && x.name === ts));
    assert.deepEqual(q.t.objects, [`partitioned/${pt}`]);
    // usage is measured from the files at each stats tick
    let used = q.t;
    for (let i = 0; i < 40 && !(Number(used.usedBytes) > 0 && Number(used.files) > 0); i++) {
      await new Promise((r) => setTimeout(r, 100));
      used = (await ok(post, `{ tablespace(id: "${tsid}") { usedBytes files } }`)).tablespace;
    }
    assert.ok(Number(used.usedBytes) > 0 && Number(used.files) > 0, `usage measured from the files: ${JSON.stringify(used)}`);
    const add = await ok(post, `mutation($n: String!) { partitionAdd(table: $n, name: "p3", definition: {from: 200, to: 300}) { id table name definition rows } }`, { n: pt });
    assert.deepEqual(add.partitionAdd.definition, { from: 200, to: 300 });
    assert.match(await fails(post, `mutation { partitionAdd(table: "${pt}", name: "px", definition: {from: 250, to: 400}) { id } }`), /conflict/);
    const dp = await ok(post, `mutation($id: BigInt!) { partitionDrop(id: $id) { id table droppedRows } }`, { id: p2id });
    assert.deepEqual(dp.partitionDrop, { id: p2id, table: pt, droppedRows: '1' });
    assert.match(await fails(post, `mutation { tablespaceDrop(id: "${tsid}") { dropped } }`), /conflict/);
    const up = await ok(post, `mutation($id: BigInt!) { tablespaceUpdate(id: $id, name: "${ts}x", quotaBytes: null) { name quotaBytes } }`, { id: tsid });
    assert.deepEqual(up.tablespaceUpdate, { name: `${ts}x`, quotaBytes: null });
    const dt = await ok(post, `mutation($n: String!) { partitionedDropTable(name: $n) { name dropped droppedRows } }`, { n: pt });
    assert.deepEqual(dt.partitionedDropTable, { name: pt, dropped: true, droppedRows: '2' });
    const dts = await ok(post, `mutation($id: BigInt!) { tablespaceDrop(id: $id) { id dropped } }`, { id: tsid });
    assert.deepEqual(dts.tablespaceDrop, { id: tsid, dropped: true });
    assert.equal((await ok(post, `{ tablespace(id: "${tsid}") { id } }`)).tablespace, null);
  });

  await step('pages: split, merge, compact; vectored read and write', async () => {
    const a = (await ok(post, 'mutation { allocatePage { pageId } }')).allocatePage.pageId;
    for (const s of ['one', 'two', 'three', 'four'])
      await ok(post, `mutation($p: BigInt!, $d: String!) { insertRecord(pageId: $p, data: $d) { slot } }`, { p: a, d: b64(s) });
    const sp = await ok(post, `mutation($p: BigInt!) { splitPage(pageId: $p) { originalPageId newPageId moved } }`, { p: a });
    assert.equal(sp.splitPage.originalPageId, a);
    assert.ok(sp.splitPage.moved >= 1 && sp.splitPage.moved < 4);
    const b = sp.splitPage.newPageId;
    const pages = await ok(post, `query($a: BigInt!, $b: BigInt!) { a: page(pageId: $a) { records } b: page(pageId: $b) { records } }`, { a, b });
    assert.equal(pages.a.records + pages.b.records, 4);
    assert.equal(pages.b.records, sp.splitPage.moved);
    await ok(post, `mutation($p: BigInt!) { deleteRecord(pageId: $p, slot: 0) { deleted } }`, { p: a });
    const cp = await ok(post, `mutation($p: BigInt!) { compactPage(pageId: $p) { pageId bytesReclaimed } }`, { p: a });
    assert.equal(cp.compactPage.pageId, a);
    assert.ok(cp.compactPage.bytesReclaimed >= 0);
    const mg = await ok(post, `mutation($a: BigInt!, $b: BigInt!) { mergePages(page1Id: $a, page2Id: $b) { resultPageId freedPageId moved } }`, { a, b });
    assert.deepEqual(mg.mergePages, { resultPageId: a, freedPageId: b, moved: sp.splitPage.moved });
    assert.equal((await ok(post, `query($a: BigInt!) { page(pageId: $a) { records } }`, { a })).page.records, 3);
    await ok(post, 'mutation { flushBufferPool { flushed } }');
    const vr = await ok(post, `query($a: BigInt!) { vectoredRead(pageIds: [$a]) { pageId data } }`, { a });
    assert.equal(vr.vectoredRead[0].pageId, a);
    const img = Buffer.from(vr.vectoredRead[0].data, 'base64');
    assert.ok(img.length >= 4096 && img.includes(Buffer.from('three')));
    const vw = await ok(post, `mutation($p: [PageImageInput!]!) { vectoredWrite(pages: $p) { written } }`, { p: [{ pageId: a, data: vr.vectoredRead[0].data }] });
    assert.equal(vw.vectoredWrite.written, 1);
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const base = process.env.STRATA_GQL_URL;
  const post = async (query, variables) => {
    const r = await fetch(base + '/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
    return { status: r.status, body: await r.json() };
  };
  let failures = 0;
  await areaSteps(async (name, fn) => {
    try { await fn(); console.log(`ok   ${name}`); } catch (e) { failures++; console.log(`FAIL ${name}: ${e.stack || e}`); }
  }, post);
  process.exit(failures ? 1 : 0);
}
