// Builds web/dist/: compiles src/*.ts with tsc (ES modules, no bundler,
// no source maps) and adds static/* (index.html, style.css, favicon.svg).
// dist/ is committed and embedded into the engine at compile time; the
// engine's build reruns when dist/ changes, so only files whose bytes
// differ are rewritten (and stale ones removed): an unchanged build leaves
// dist/ untouched and costs no Rust rebuild.

import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');
const staging = mkdtempSync(join(tmpdir(), 'ticketing-web-'));

function list(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? list(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}

try {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const compiled = spawnSync(process.execPath, [tsc, '-p', root, '--outDir', staging], { stdio: 'inherit' });
  if (compiled.status !== 0) {
    console.error('build: tsc failed');
    process.exit(compiled.status ?? 1);
  }
  cpSync(join(root, 'static'), staging, { recursive: true });

  const fresh = new Set(list(staging).map((file) => relative(staging, file)));
  let changed = 0;
  for (const file of list(dist)) {
    if (!fresh.has(relative(dist, file))) {
      rmSync(file);
      changed += 1;
      console.log(`removed  ${relative(root, file)}`);
    }
  }
  let total = 0;
  for (const name of [...fresh].sort()) {
    const bytes = readFileSync(join(staging, name));
    const target = join(dist, name);
    total += bytes.length;
    if (existsSync(target) && readFileSync(target).equals(bytes)) continue;
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, bytes);
    changed += 1;
    console.log(`wrote    ${relative(root, target).padEnd(28)} ${String(statSync(target).size).padStart(7)} B`);
  }
  for (const dir of readdirSync(dist, { withFileTypes: true })) {
    const path = join(dist, dir.name);
    if (dir.isDirectory() && list(path).length === 0) rmSync(path, { recursive: true });
  }
  console.log(`build: ${fresh.size} files, ${total} bytes in dist/ (${changed} changed)`);
} finally {
  rmSync(staging, { recursive: true, force: true });
}
