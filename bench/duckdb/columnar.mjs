// bench/duckdb/columnar.mjs — DuckDB's side of bench/columnar.sh: the same
// 10M rows as bench/columnar_bench.c (same integer hash, computed in SQL),
// threads=1, a file-backed database; load time, stored bytes, and warm
// (best of REPS after one warm-up) SUM(id), COUNT(*) WHERE price < 10,
// MIN(price), MAX(price), COUNT(*) WHERE status = 'refunded'. Prints JSON.
//
//   node columnar.mjs [ROWS] [REPS]
import { DuckDBInstance } from '@duckdb/node-api';
import { mkdtempSync, statSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const rows = Number(process.argv[2] ?? 10000000);
const reps = Number(process.argv[3] ?? 5);
const dir = mkdtempSync(join(tmpdir(), 'strata-duckbench-'));
const file = join(dir, 'bench.duckdb');

const inst = await DuckDBInstance.create(file, { threads: '1' });
const con = await inst.connect();
await con.run("SET threads = 1");
await con.run("SET preserve_insertion_order = true");

const load0 = performance.now();
await con.run(`
  CREATE TABLE bench AS
  WITH h AS (
    SELECT i,
           (i * 2654435761) % 4294967296 AS h1
    FROM range(${rows}) r(i)
  ), h2 AS (
    SELECT i, h1, (h1 * 1103515245 + 12345) % 4294967296 AS h2 FROM h
  ), h3 AS (
    SELECT i, h1, h2, (h2 * 1103515245 + 12345) % 4294967296 AS h3 FROM h2
  )
  SELECT i::BIGINT AS id,
         (['paid','open','shipped','cancelled','refunded'])[(h3 % 5)::INTEGER + 1] AS status,
         h2::DOUBLE / 4294967296.0 * 1000.0 AS price,
         make_timestamp((1700000000000000 + i * 1000 + h1 % 1000)::BIGINT) AS ts
  FROM h3 ORDER BY i`);
await con.run("CHECKPOINT");
const load_s = (performance.now() - load0) / 1000;
const stored_bytes = statSync(file).size;

const queries = {
  sum_id: "SELECT SUM(id) FROM bench",
  count_price_lt_10: "SELECT COUNT(*) FROM bench WHERE price < 10",
  min_price: "SELECT MIN(price) FROM bench",
  max_price: "SELECT MAX(price) FROM bench",
  count_status_refunded: "SELECT COUNT(*) FROM bench WHERE status = 'refunded'",
};
const out = { rows, load_s, stored_bytes, threads: 1, queries: {} };
for (const [name, sql] of Object.entries(queries)) {
  let best = Infinity, value;
  for (let r = 0; r <= reps; r++) {
    const t0 = performance.now();
    const reader = await con.runAndReadAll(sql);
    const dt = (performance.now() - t0) / 1000;
    value = reader.getRows()[0][0];
    if (r > 0 && dt < best) best = dt;
  }
  out.queries[name] = { seconds: best, rows_per_s: rows / best,
                        value: typeof value === 'bigint' ? value.toString() : Number(value) };
}
console.log(JSON.stringify(out));
con.closeSync?.();
rmSync(dir, { recursive: true, force: true });
