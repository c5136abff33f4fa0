#!/usr/bin/env node
// `pnpm bench [name...]`: runs the benchmarks (all by default), each in its
// own process, and prints every figure with its baseline ratio at the end.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const ALL = ['overhead', 'scheduler-plan', 'scheduler-commit', 'logs', 'transfer', 'transfer-s3', 'auth', 'cli', 'web'];
const wanted = process.argv.slice(2).filter((a) => a !== '--');
const unknown = wanted.filter((w) => !ALL.includes(w));
if (unknown.length) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; choose from ${ALL.join(', ')}`);
  process.exit(2);
}

// A benchmark that hangs fails the run instead of holding it forever.
const DEADLINE_MS = Number(process.env.BENCH_DEADLINE_MS ?? 30 * 60_000);
const results = [];
let failed = false;
for (const name of wanted.length ? wanted : ALL) {
  console.log(`\n=== ${name} ===`);
  const code = await new Promise((res) => {
    const child = spawn(process.execPath, [join(here, `${name}.mjs`)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let rest = '';
    child.stdout.on('data', (b) => {
      const lines = (rest + b.toString()).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        if (line.startsWith('RESULT ')) results.push(JSON.parse(line.slice(7)));
        else console.log(line);
      }
    });
    const timer = setTimeout(() => {
      console.error(`${name} still running after ${DEADLINE_MS / 60_000} min; stopping it`);
      child.kill('SIGKILL');
    }, DEADLINE_MS);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      res(code ?? signal);
    });
  });
  if (code !== 0) {
    failed = true;
    console.error(`${name} failed (exit ${code})`);
  }
}
console.log('\n=== results (JSON) ===');
for (const r of results) console.log(JSON.stringify(r));
process.exit(failed ? 1 : 0);
