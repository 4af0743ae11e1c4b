// Differential test of the rule OverlappingFieldsCanBeMerged: random query
// documents made from the schema, with few response names so that fields
// overlap (aliases, fragments on both sides, nested and cyclic fragments,
// inline fragments on other object types, arguments that differ or not,
// unknown fields and types), validated by graphql-js and by Strata; the
// errors (message and locations) must be the same. Deterministic (a fixed
// seed). Used by test.mjs; runnable alone against a running strata-front:
//   STRATA_GQL_URL=http://127.0.0.1:PORT node overlap.mjs [count] [seed]
import assert from 'node:assert/strict';
import {
  buildSchema, parse, validate, GraphQLError, getNamedType, isCompositeType, isLeafType,
  isObjectType, isNonNullType,
} from 'graphql';

// mulberry32
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Query fields worth selecting (read-only, cheap to run when the document
// is valid), and object types whose fields share names with other types'.
const QUERY_FIELDS = ['status', 'bufferPool', 'ioStats', 'disks', 'lsmTree', 'lsmGet', 'lsmScan',
  'columnarTable', 'tiers', 'tierStats', 'tierPage', 'partitions', 'jsonParse', 'page',
  'jsonExtract', 'tablespaces', '__typename', '__type'];
const OTHER_TYPES = ['Status', 'Page', 'LsmItem', 'LsmTreeDetail', 'ColumnarTable', 'TierPage',
  'TiersInfo', 'TierStats', 'Partition', 'Tablespace', 'JsonParseResult', 'Disk', '__Type', 'Query'];
const ALIASES = ['a', 'b', 'name', 'pageId', 'rows', 'tier', 'data'];
const FRAGS = ['F0', 'F1', 'F2', 'F3'];

export function makeDocument(schema, r) {
  const pick = (xs) => xs[Math.floor(r() * xs.length)];
  const chance = (p) => r() < p;
  const argValue = (type) => {
    const named = getNamedType(type).name;
    if (chance(0.08)) return pick(['$s', '$i', 'null', '"x"']);
    switch (named) {
      case 'String': return pick(['"a"', '"b"', '"""a"""', '$s']);
      case 'Int': return pick(['1', '2', '$i']);
      case 'BigInt': return pick(['1', '"1"', '2']);
      case 'Boolean': return pick(['true', 'false']);
      case 'JSON': return pick(['{a: 1, b: 2}', '{b: 2, a: 1}', '[1, "x"]', '1', '{a: $s}']);
      default: return '1';
    }
  };
  const fieldOf = (type) => {
    if (type.name === 'Query') return pick(QUERY_FIELDS);
    const names = Object.keys(type.getFields());
    if (chance(0.6)) {
      const shared = names.filter((n) => ALIASES.includes(n));
      if (shared.length) return pick(shared);
    }
    return pick(names);
  };
  const selectionSet = (type, depth) => {
    const n = 1 + Math.floor(r() * (depth === 0 ? 4 : 3));
    const sels = [];
    for (let i = 0; i < n; i++) sels.push(selection(type, depth));
    return `{ ${sels.join(' ')} }`;
  };
  const selection = (type, depth) => {
    const x = r();
    if (x < 0.12 && depth < 4) {
      const cond = chance(0.25) ? '' : chance(0.5) ? ` on ${type ? type.name : 'Query'}` : ` on ${pick(OTHER_TYPES)}`;
      const t = cond ? schema.getType(cond.slice(4)) : type;
      return `...${cond} ${selectionSet(isCompositeType(t) ? t : null, depth + 1)}`;
    }
    if (x < 0.24) return `...${pick(FRAGS)}`;
    if (!type || !isObjectType(type) || chance(0.03)) {
      const name = chance(0.5) ? 'nope' : pick(ALIASES);
      return chance(0.5) ? `${name} { ${pick(ALIASES)} }` : name;
    }
    const fname = fieldOf(type);
    const fd = type.name === 'Query' && fname.startsWith('__')
      ? (fname === '__type' ? { args: [{ name: 'name', type: schema.getType('String') }], type: schema.getType('__Type') } : null)
      : type.getFields()[fname];
    let s = chance(0.5) ? `${pick(ALIASES)}: ${fname}` : fname;
    if (fd && fd.args.length && !chance(0.1)) {
      const args = fd.args.filter((a) => isNonNullType(a.type) || chance(0.3))
        .map((a) => `${a.name}: ${argValue(a.type)}`);
      if (chance(0.05)) args.push('bogus: 1');
      if (args.length) s += `(${args.join(', ')})`;
    }
    const nt = fd ? getNamedType(fd.type) : null;
    if (nt && isCompositeType(nt) && !chance(0.03)) {
      if (depth < 3) s += ' ' + selectionSet(nt, depth + 1);
      else s += ` { ${chance(0.5) ? '__typename' : pick(Object.keys(nt.getFields()))} }`;
    } else if ((!nt || isLeafType(nt)) && chance(0.03)) {
      s += ' { x }';
    }
    return s;
  };
  const defs = [];
  defs.push(`query Q($s: String, $i: Int) ${selectionSet(schema.getQueryType(), 0)}`);
  const nf = Math.floor(r() * 4);
  for (let k = 0; k < nf; k++) {
    const on = chance(0.5) ? 'Query' : chance(0.97) ? pick(OTHER_TYPES) : pick(['Int', 'Nope']);
    const t = schema.getType(on);
    defs.push(`fragment ${FRAGS[k]} on ${on} ${selectionSet(isCompositeType(t) ? t : null, 1)}`);
  }
  return defs.join('\n');
}

function expected(schema, doc) {
  try {
    return validate(schema, parse(doc)).map((e) => e.toJSON());
  } catch (e) {
    if (!(e instanceof GraphQLError)) throw e;
    return [e.toJSON()];
  }
}

const norm = (errs) => errs.map((e) => JSON.stringify({ message: e.message, locations: e.locations }))
  .sort();

// Checks count random documents; returns {agreed, conflicts, problems}.
export async function randomOverlapCheck(post, schema, count, seed) {
  const r = rng(seed);
  const problems = [];
  let agreed = 0, conflicts = 0;
  for (let i = 0; i < count; i++) {
    const doc = makeDocument(schema, r);
    const want = expected(schema, doc);
    const { body } = await post(doc, { s: 'a', i: 1 });
    const got = body.data === undefined ? (body.errors || []) : [];
    const w = norm(want), g = norm(got);
    if (want.some((e) => e.message.startsWith('Fields "'))) conflicts++;
    if (JSON.stringify(w) === JSON.stringify(g)) agreed++;
    else if (problems.length < 5)
      problems.push(`${doc}\n  graphql-js: ${w.join('\n              ')}\n  strata:     ${g.join('\n              ')}`);
  }
  return { agreed, conflicts, problems };
}

export async function overlapSteps(step, post, schema, count = 1500, seed = 20240531) {
  await step(`OverlappingFieldsCanBeMerged agrees with graphql-js on ${count} random documents`, async () => {
    const { agreed, conflicts, problems } = await randomOverlapCheck(post, schema, count, seed);
    assert.ok(conflicts > count / 10, `only ${conflicts} documents have conflicts`);
    assert.equal(agreed, count, `${count - agreed} differ, e.g.\n${problems.join('\n')}`);
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const base = process.env.STRATA_GQL_URL;
  if (!base) throw new Error('STRATA_GQL_URL is not set');
  const post = async (query, variables) => {
    const res = await fetch(base + '/graphql', {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query, variables }),
    });
    return { status: res.status, body: await res.json() };
  };
  const schema = buildSchema(await (await fetch(base + '/graphql/schema.graphql')).text());
  const count = Number(process.argv[2] || 1500), seed = Number(process.argv[3] || 20240531);
  const t0 = Date.now();
  const { agreed, conflicts, problems } = await randomOverlapCheck(post, schema, count, seed);
  console.log(`${agreed}/${count} agreed (${conflicts} with conflicts) in ${Date.now() - t0} ms`);
  if (problems.length) console.log(problems.join('\n'));
  process.exit(agreed === count ? 0 : 1);
}
