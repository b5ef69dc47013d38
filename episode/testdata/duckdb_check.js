// duckdb_check.js DATASET: reads every parquet file of a LeRobotDataset with DuckDB
// (npm @duckdb/node-api, installed by scripts/setup.sh into .cache/duckdb) and prints
// what it found as JSON: per file its row count and column types; per data file the
// rows of each episode; the episodes and tasks tables. The Go test judges it.
const path = require('path');
const fs = require('fs');
const { createRequire } = require('module');
const duckDir = process.env.DUCKDB_DIR;
const duckdb = createRequire(path.join(duckDir, 'package.json'))('@duckdb/node-api');

function walk(dir, out) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (e.name.startsWith('.')) continue; // the writer's private .robotd
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.name.endsWith('.parquet')) out.push(p);
  }
  return out;
}

(async () => {
  const root = process.argv[2];
  const db = await duckdb.DuckDBInstance.create(':memory:');
  const c = await db.connect();
  const q = async (sql) => (await c.runAndReadAll(sql)).getRowObjectsJson();
  const lit = (p) => "'" + p.replace(/'/g, "''") + "'";
  const result = { version: (await q('select version() as v'))[0].v, files: [], data: [], episodes: [], tasks: [] };
  for (const p of walk(root, []).sort()) {
    const rel = path.relative(root, p);
    const cols = (await q(`describe select * from read_parquet(${lit(p)})`)).map((r) => [r.column_name, r.column_type]);
    const rows = Number((await q(`select count(*) as n from read_parquet(${lit(p)})`))[0].n);
    result.files.push({ path: rel, rows, columns: cols });
    if (rel.startsWith('data/')) {
      for (const r of await q(`select episode_index, count(*) as n, min("index") as lo, max("index") as hi,
          min(frame_index) as f0, max(frame_index) as f1, sum(len("observation.state")) as state_values,
          max(abs("timestamp" - frame_index / ${Number(process.argv[3])})) as ts_err
          from read_parquet(${lit(p)}) group by episode_index order by episode_index`)) {
        result.data.push({ path: rel, ...r });
      }
    } else if (rel.startsWith('meta/episodes/')) {
      for (const r of await q(`select episode_index, tasks, length, "data/chunk_index", "data/file_index",
          dataset_from_index, dataset_to_index, "meta/episodes/chunk_index", "meta/episodes/file_index"
          from read_parquet(${lit(p)}) order by episode_index`)) {
        result.episodes.push({ path: rel, ...r });
      }
    } else if (rel === path.join('meta', 'tasks.parquet')) {
      result.tasks = await q(`select task_index, task from read_parquet(${lit(p)}) order by task_index`);
    }
  }
  process.stdout.write(JSON.stringify(result));
})().catch((e) => { console.error(e); process.exit(1); });
