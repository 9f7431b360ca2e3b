// Starts the local Timebridge stack (infra/dev) on free ports, waits for
// its TIMEBRIDGE_READY line, and stops it again (the whole process group).
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import net from 'node:net';

export const repoRoot = resolve(import.meta.dirname, '..', '..', '..');
// The stack's -root (template.yaml, functions/, bin/kumo, web/dist): the
// repository unless TIMEBRIDGE_STACK_ROOT names another checkout or build.
export const stackRoot = resolve(process.env.TIMEBRIDGE_STACK_ROOT || repoRoot);

export function freePort() {
  return new Promise((ok, fail) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

// Preconditions the stack and the console need; each message says how to fix it.
export function checkPrerequisites() {
  const missing = [];
  if (!existsSync(join(stackRoot, 'web', 'dist', 'index.html')))
    missing.push(`${join(stackRoot, 'web', 'dist', 'index.html')} is missing: build the console first (make web-build)`);
  const kumo = process.env.TIMEBRIDGE_KUMO_BIN || join(stackRoot, 'bin', 'kumo');
  if (!existsSync(kumo)) missing.push(`${kumo} is missing: run make kumo`);
  return missing;
}

// buildDev builds infra/dev into dir (unless TIMEBRIDGE_DEV_BIN names a
// prebuilt one) and returns the binary's path.
export function buildDev(dir) {
  if (process.env.TIMEBRIDGE_DEV_BIN) return process.env.TIMEBRIDGE_DEV_BIN;
  const bin = join(dir, 'dev');
  execFileSync('go', ['build', '-o', bin, './infra/dev'], { cwd: repoRoot, stdio: 'inherit' });
  return bin;
}

// devFlags lists the flags an infra/dev binary accepts (from its -h), so a
// test can tell a flag that is not there yet from a stack that fails.
export function devFlags(bin) {
  // Go's flag package prints the usage to stderr (and exits 0 or 2).
  const r = spawnSync(bin, ['-h'], { encoding: 'utf8' });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  return new Set([...out.matchAll(/^\s+-([\w-]+)/gm)].map((m) => m[1]));
}

// start builds infra/dev (unless bin or TIMEBRIDGE_DEV_BIN names a prebuilt
// one), runs it in its own process group with extraArgs after the usual
// ones (e.g. ['-sim-latency', '300ms']), logs to artifacts/<logName>, and
// resolves with the READY info.
export async function startStack({ password, log = () => {}, extraArgs = [], bin: prebuilt, logName = 'stack.log' }) {
  const tmp = mkdtempSync(join(tmpdir(), 'timebridge-e2e-'));
  const t0 = performance.now();
  const bin = prebuilt || buildDev(tmp);
  const buildMs = performance.now() - t0;
  const kumoPort = await freePort();
  const args = ['-root', stackRoot, '-data', join(tmp, 'kumo'), '-addr', '127.0.0.1:0',
    '-zammad-addr', '127.0.0.1:0', '-kimai-addr', '127.0.0.1:0', '-kumo-port', String(kumoPort),
    '-admin-password', password, ...extraArgs];
  const logFile = join(repoRoot, 'web', 'e2e', 'artifacts', logName);
  const logStream = createWriteStream(logFile);
  const t1 = performance.now();
  const child = spawn(bin, args, { cwd: repoRoot, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr.pipe(logStream, { end: false });
  const stack = {
    child, tmp, logFile, buildMs,
    exited: new Promise((ok) => child.once('exit', (code, sig) => ok({ code, sig }))),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        try { process.kill(-child.pid, 'SIGTERM'); } catch { /* gone */ }
        const timer = setTimeout(() => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } }, 15000);
        await stack.exited;
        clearTimeout(timer);
      }
      logStream.end();
      rmSync(tmp, { recursive: true, force: true });
    },
  };
  // Killed with the test process too, whatever ends it.
  const onExit = () => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } };
  process.once('exit', onExit);
  const ready = await new Promise((ok, fail) => {
    let buf = '';
    const timer = setTimeout(() => fail(new Error(`stack not ready after 90 s (log: ${logFile})`)), 90000);
    child.stdout.on('data', (d) => {
      logStream.write(d);
      buf += d;
      const m = buf.match(/^TIMEBRIDGE_READY (\{.*\})$/m);
      if (m) { clearTimeout(timer); ok(JSON.parse(m[1])); }
    });
    child.once('exit', (code, sig) => { clearTimeout(timer); fail(new Error(`infra/dev exited (${code ?? sig}) before it was ready; see ${logFile}`)); });
  });
  stack.startMs = performance.now() - t1;
  Object.assign(stack, ready);
  log(`stack ready in ${Math.round(stack.startMs)} ms at ${ready.url} (zammad ${ready.zammad}, kimai ${ready.kimai}, kumo :${kumoPort})${extraArgs.length ? ` with ${extraArgs.join(' ')}` : ''}`);
  return stack;
}
