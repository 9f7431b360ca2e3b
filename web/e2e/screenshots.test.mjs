// Screenshots of every page of the console after a sync with the demo data,
// light and dark (prefers-color-scheme), at 1280x800 and 360x740, into
// web/e2e/artifacts/screenshots/ (gitignored). A page that shows an error
// box (or an error toast) fails the test: the pictures are of a console that
// works.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { repoRoot, startStack, checkPrerequisites } from './lib/stack.mjs';
import { kimai, zammad, markerRE } from './lib/sims.mjs';

const OUT = join(repoRoot, 'web', 'e2e', 'artifacts', 'screenshots');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const PASSWORD = 'e2e-admin-password-2';
const VIEWPORTS = [['desktop', { width: 1280, height: 800 }], ['phone', { width: 360, height: 740 }]];
const SCHEMES = ['light', 'dark'];
const log = (...a) => console.log('[screenshots]', ...a);

async function call(method, url, token, body) {
  const res = await fetch(url, {
    method,
    headers: { Accept: 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : null;
}

const terminal = (r) => r && r.status !== 'queued' && r.status !== 'running';

async function waitRun(api, id, timeout = 90000) {
  const t0 = performance.now();
  for (;;) {
    const r = await api('GET', `/api/runs/${id}`);
    if (terminal(r)) return r;
    if (performance.now() - t0 > timeout) throw new Error(`run ${id} still ${r.status} after ${timeout} ms`);
    await new Promise((ok) => setTimeout(ok, 500));
  }
}

// What an admin would have set up: both connectors, a profile with billing on, a preview and a
// real sync, the schedule on; then a timesheet edited in Kimai and its entry in Zammad, so
// that the next sync opens a conflict (the Conflicts page then shows one).
async function seed(stack) {
  const login = await call('POST', `${stack.url}/api/auth/login`, null, { username: stack.user, password: PASSWORD });
  const api = (method, path, body) => call(method, `${stack.url}${path}`, login.token, body);
  const z = await api('POST', '/api/connectors', { kind: 'zammad', name: 'Demo Zammad', base_url: stack.zammad, token: stack.zammad_token });
  const k = await api('POST', '/api/connectors', { kind: 'kimai', name: 'Demo Kimai', base_url: stack.kimai, token: stack.kimai_token });
  const p = await api('POST', '/api/profiles', {
    name: 'Support', zammad_connector_id: z.id, kimai_connector_id: k.id,
    auto_create_customers: true, auto_create_projects: true, auto_create_activities: true,
  });
  const preview = await api('POST', `/api/profiles/${p.id}/runs`, { mode: 'full', dry_run: true });
  await waitRun(api, preview.id);
  const real = await api('POST', `/api/profiles/${p.id}/runs`, { mode: 'full', dry_run: false });
  const done = await waitRun(api, real.id);
  log(`seeded: profile ${p.id}, sync ${done.id} ${done.status}: ${JSON.stringify(done.counts)}`);
  await api('PATCH', `/api/profiles/${p.id}`, { enabled: true, billing: { enabled: true, tag: 'billed' }, version: p.version });
  const sheet = (await kimai(stack).timesheets()).find((x) => markerRE.test(x.description || ''));
  if (sheet) {
    const entryID = Number(sheet.description.match(markerRE)[2]);
    const entry = await zammad(stack).entry(entryID);
    await kimai(stack).patchTimesheet(sheet.id, { description: `${sheet.description} (reviewed)` });
    await zammad(stack).updateEntry(entry.ticket_id, entryID, { time_unit: String(Number(entry.time_unit) + 15) });
    const again = await api('POST', `/api/profiles/${p.id}/runs`, { mode: 'incremental', dry_run: false });
    const r = await waitRun(api, again.id);
    log(`conflict sync ${r.id} ${r.status}: ${r.counts.conflicts} conflict(s)`);
  }
  return { login, profile: p, run: done };
}

test('screenshots of every page, light and dark, desktop and phone', { timeout: 10 * 60 * 1000 }, async (t) => {
  const missing = checkPrerequisites();
  if (!existsSync(CHROMIUM)) missing.push(`${CHROMIUM} is missing: apt-get install -y chromium (make e2e does it as root)`);
  assert.deepEqual(missing, [], `prerequisites:\n  ${missing.join('\n  ')}`);
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });

  let stack, browser;
  try {
    stack = await startStack({ password: PASSWORD, log });
    const { login, run } = await seed(stack);
    const pages = [
      ['dashboard', '/', 'Dashboard'], ['connectors', '/connectors', 'Connectors'], ['profiles', '/profiles', 'Profiles'],
      ['mappings', '/mappings', 'Mappings'], ['conflicts', '/conflicts', 'Conflicts'], ['runs', '/runs', 'Runs'],
      ['run', `/runs/${encodeURIComponent(run.id)}`, null], ['reports', '/reports', 'Reports'], ['audit', '/audit', 'Audit log'],
    ];

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
    });
    const ctx = await browser.newContext({ viewport: VIEWPORTS[0][1] });
    // Signed in as the seed's session (what the sign-in form stores).
    await ctx.addInitScript((s) => sessionStorage.setItem('timebridge.session', JSON.stringify(s)), { token: login.token, expires_at: login.expires_at });
    const page = await ctx.newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));

    const problems = [];
    let shots = 0;
    for (const scheme of SCHEMES) {
      await page.emulateMedia({ colorScheme: scheme });
      for (const [vpName, vp] of VIEWPORTS) {
        await page.setViewportSize(vp);
        for (const [id, path, heading] of pages) {
          await t.test(`${id} ${scheme} ${vpName}`, async () => {
            await page.goto(new URL(path, stack.url).href, { waitUntil: 'load' });
            await page.getByTestId('nav').waitFor({ state: 'attached', timeout: 15000 });
            const h2 = heading ? page.getByRole('heading', { level: 2, name: heading, exact: true }) : page.locator('main h1, main h2');
            await h2.first().waitFor({ state: 'visible', timeout: 15000 });
            // Settled: no spinner left (or 5 s passed), then a moment for charts.
            await page.waitForFunction(() => !document.querySelector('main .spinner'), undefined, { timeout: 5000 }).catch(() => {});
            await page.waitForTimeout(300);
            const file = join(OUT, `${id}-${scheme}-${vpName}.png`);
            await page.screenshot({ path: file, fullPage: vpName === 'desktop' });
            shots++;
            const errors = await page.evaluate(() => [...document.querySelectorAll('.error-box, .toast-error, [data-testid="not-found"]')]
              .filter((e) => e.getClientRects().length > 0)
              .map((e) => e.textContent.replace(/\s+/g, ' ').trim().slice(0, 200)));
            if (errors.length) problems.push(`${path} (${scheme}, ${vpName}): ${errors.join(' | ')}`);
            assert.deepEqual(errors, [], `${path} (${scheme}, ${vpName}) shows an error box; see ${file}`);
          });
        }
      }
    }
    log(`${shots} screenshots in ${OUT}`);
    if (pageErrors.length) log(`page errors:\n  ${pageErrors.slice(0, 10).join('\n  ')}`);
    assert.deepEqual(problems, [], 'pages with an error box');
    assert.deepEqual(pageErrors, [], 'uncaught errors in the page');
  } finally {
    if (browser) await browser.close().catch(() => {});
    if (stack) await stack.stop();
  }
});
