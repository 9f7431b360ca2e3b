// The browser scenario of the README's Testing section: the web console driven in Debian's chromium
// (playwright-core) against the whole local stack (infra/dev on free ports).
// Each step is a subtest; a step whose UI is not in the page fails with the
// exact step and the selector it needs, and the steps that depend on it are
// reported as not run (skipped, with the reason), never as passed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { repoRoot, startStack, checkPrerequisites } from './lib/stack.mjs';
import { kimai, zammad, markerRE } from './lib/sims.mjs';

const ARTIFACTS = join(repoRoot, 'web', 'e2e', 'artifacts');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const PASSWORD = 'e2e-admin-password-1';
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 360, height: 740 };
// Every page of the console: its id (the section's), its path and its heading (= its nav link).
const PAGES = [
  ['dashboard', '/', 'Dashboard'], ['connectors', '/connectors', 'Connectors'], ['profiles', '/profiles', 'Profiles'],
  ['mappings', '/mappings', 'Mappings'], ['conflicts', '/conflicts', 'Conflicts'], ['runs', '/runs', 'Runs'],
  ['reports', '/reports', 'Reports'], ['audit', '/audit', 'Audit log'],
];
const pathOf = (id) => PAGES.find(([x]) => x === id)[1];
const UI_TIMEOUT = 8000; // for an element the page should already show
const SYNC_TIMEOUT = 60000; // for what waits on a sync run through the queue

const log = (...a) => console.log('[e2e]', ...a);
const ms = (x) => `${Math.round(x)} ms`;

// MissingUI marks a step that could not find the contract's selector.
class MissingUI extends Error {}

function ui(page, step) {
  const missing = (what, timeout) =>
    new MissingUI(`step "${step}": ${what} not found in the page within ${timeout} ms (see the contract's selectors)`);
  const wait = async (loc, what, timeout = UI_TIMEOUT, state = 'visible') => {
    try {
      await loc.first().waitFor({ state, timeout });
    } catch {
      throw missing(what, timeout);
    }
    return loc;
  };
  return {
    testid: (id, { within = page, timeout, hasText } = {}) =>
      wait(within.getByTestId(id).filter(hasText ? { hasText } : {}), `[data-testid="${id}"]${hasText ? ` containing ${hasText}` : ''}`, timeout),
    label: (name, { within = page, timeout } = {}) =>
      wait(within.getByLabel(name, { exact: true }), `a control labelled "${name}"`, timeout, 'attached'),
    button: (name, { within = page, timeout } = {}) =>
      wait(within.getByRole('button', { name, exact: typeof name === 'string' }), `button "${name}"`, timeout),
    heading: (name, { timeout } = {}) =>
      wait(page.getByRole('heading', { name, exact: true }), `heading "${name}"`, timeout),
  };
}

// Picks the option of a <select> (or role=combobox with a listbox) whose text contains want.
async function choose(control, want, step) {
  const el = control.first();
  const tag = await el.evaluate((e) => e.tagName.toLowerCase());
  if (tag === 'select') {
    const options = await el.locator('option').evaluateAll((os) => os.map((o) => ({ value: o.value, text: o.textContent.trim() })));
    const hit = options.find((o) => o.text === want) || options.find((o) => o.value === want)
      || options.find((o) => o.text.toLowerCase().includes(String(want).toLowerCase()));
    if (!hit) throw new MissingUI(`step "${step}": no option "${want}" in select (options: ${options.map((o) => o.text).join(' | ')})`);
    await el.selectOption(hit.value);
    return;
  }
  // A searchable combobox: type, then pick the option.
  await el.click();
  if (tag === 'input') await el.fill(String(want));
  const page = el.page();
  const opt = page.getByRole('option', { name: want }).first();
  try {
    await opt.waitFor({ state: 'visible', timeout: UI_TIMEOUT });
  } catch {
    throw new MissingUI(`step "${step}": no option "${want}" offered by the ${tag} control`);
  }
  await opt.click();
}

async function setChecked(control, on) {
  const el = control.first();
  if ((await el.isChecked()) !== on) await el.click();
}

const intOf = async (loc) => {
  const t = (await loc.first().innerText()).replace(/[\s,.\u202f\u00a0]/g, '');
  const m = t.match(/-?\d+/);
  return m ? Number(m[0]) : NaN;
};

// Opens the narrow screen's menu when the pages are behind it (the nav's list is hidden).
async function openMenu(page) {
  const button = page.getByTestId('menu-button');
  if (!(await button.isVisible())) return false;
  if ((await button.getAttribute('aria-expanded')) !== 'true') await button.click();
  await page.getByTestId('nav').getByRole('link').first().waitFor({ state: 'visible', timeout: UI_TIMEOUT });
  return true;
}

// Goes to a page by its nav link (never by typing an address, so no reload) and
// waits for its heading; returns the page's section.
async function gotoSection(page, id, heading, timeout = UI_TIMEOUT) {
  await openMenu(page);
  const nav = page.getByTestId('nav');
  const link = nav.getByRole('link', { name: heading, exact: true });
  if (await link.count()) await link.first().click();
  else throw new MissingUI(`nav link "${heading}" not found`);
  const h2 = page.getByRole('heading', { name: heading, exact: true, level: 2 });
  try {
    await h2.first().waitFor({ state: 'visible', timeout });
  } catch {
    throw new MissingUI(`page ${pathOf(id)} (h2 "${heading}") not shown within ${timeout} ms`);
  }
  const path = await page.evaluate(() => location.pathname);
  assert.equal(path, pathOf(id), `the address after following "${heading}"`);
  return page.locator(`section#${id}, section[aria-labelledby]:has(h2:text-is("${heading}"))`).first();
}

// The setup guide's steps on the Dashboard: { zammad: true, kimai: false, … }, or null when it is gone.
async function guideSteps(page) {
  await gotoSection(page, 'dashboard', 'Dashboard');
  // The guide appears once connectors, profiles and runs are read.
  await page.waitForFunction(() => document.querySelector('[data-testid="setup-guide"]') || document.querySelector('[data-testid="dashboard-card"]')
    || document.querySelector('#dashboard .empty'), undefined, { timeout: UI_TIMEOUT });
  await page.waitForTimeout(300);
  const guide = page.getByTestId('setup-guide');
  if (!(await guide.count())) return null;
  return Object.fromEntries(await guide.getByTestId('guide-step').evaluateAll((els) => els.map((e) => [e.dataset.step, e.dataset.done === 'true'])));
}

// Waits (the guide follows the server's state) until the guide shows these steps done.
async function expectGuide(page, want, what) {
  let got;
  const t0 = performance.now();
  while (performance.now() - t0 < 20000) {
    got = await guideSteps(page);
    if (JSON.stringify(got) === JSON.stringify(want)) return;
    await page.waitForTimeout(1000);
  }
  assert.deepEqual(got, want, `setup guide ${what}`);
}
const GUIDE = (n) => Object.fromEntries(['zammad', 'kimai', 'profile', 'preview', 'apply', 'schedule'].map((k, i) => [k, i < n]));

// Waits in the page (on animation frames) for fn to be truthy; returns performance.now() then.
const frameTime = (page, fn, arg, timeout) =>
  page.waitForFunction(fn, arg, { polling: 'raf', timeout }).then((h) => h.jsonValue());

const signInInteractive = () => {
  const b = [...document.querySelectorAll('button')].find((x) => x.textContent.trim() === 'Sign in');
  const u = document.querySelector('input[autocomplete="username"], input[name="username"], #username')
    || [...document.querySelectorAll('label')].find((l) => l.textContent.trim() === 'Username')?.control;
  return b && !b.disabled && u && !u.disabled && b.getBoundingClientRect().width > 0 ? performance.now() : false;
};

const dashboardWithData = () => {
  const cells = [...document.querySelectorAll('[data-testid="dashboard-card"] [data-testid="synced-entries"]')];
  return cells.some((c) => /[1-9]/.test(c.textContent)) ? performance.now() : false;
};

async function measureTTI(browser, stack) {
  const ctx = await browser.newContext({ viewport: DESKTOP });
  const page = await ctx.newPage();
  try {
    await page.goto(stack.url, { waitUntil: 'commit' });
    const formReady = await frameTime(page, signInInteractive, undefined, 30000);
    const nav = await page.evaluate(() => {
      const n = performance.getEntriesByType('navigation')[0];
      return { ttfb: n.responseStart, dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd };
    });
    await page.getByLabel('Username', { exact: true }).fill(stack.user || 'admin');
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.evaluate(() => {
      const b = [...document.querySelectorAll('button')].find((x) => x.textContent.trim() === 'Sign in');
      b.addEventListener('click', () => { window.__signInClick = performance.now(); }, { capture: true, once: true });
    });
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    const dash = await frameTime(page, dashboardWithData, undefined, 30000);
    const click = await page.evaluate(() => window.__signInClick);
    const fcp = await page.evaluate(() => new Promise((ok) => {
      new PerformanceObserver((l) => ok(l.getEntries().find((e) => e.name === 'first-contentful-paint')?.startTime))
        .observe({ type: 'paint', buffered: true });
      setTimeout(() => ok(undefined), 1000);
    }));
    return { formReady, signInToDashboard: dash - click, fcp, ...nav };
  } finally {
    await ctx.close();
  }
}

test('web console: the admin scenario in chromium against the local stack', { timeout: 15 * 60 * 1000 }, async (t) => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const missing = checkPrerequisites();
  if (!existsSync(CHROMIUM)) missing.push(`${CHROMIUM} is missing: apt-get install -y chromium (make e2e does it as root)`);
  assert.deepEqual(missing, [], `prerequisites:\n  ${missing.join('\n  ')}`);

  const scenarioStart = performance.now();
  const timings = [];
  const shared = {};
  let stack, browser;
  try {
    stack = await startStack({ password: PASSWORD, log });
    timings.push(['go build infra/dev', stack.buildMs], ['stack start (to TIMEBRIDGE_READY)', stack.startMs]);
    const z = zammad(stack);
    const k = kimai(stack);
    // An admin set up the activity in Kimai beforehand, so its catalog offers it for mapping.
    shared.activity = await k.createActivity('Mapped support');

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
    });
    const ctx = await browser.newContext({ viewport: DESKTOP });
    const page = await ctx.newPage();
    const consoleErrors = [];
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });

    const status = new Map(); // step → 'passed' | 'failed' | 'skipped'
    const step = async (name, needs, fn) => {
      const blocker = needs.find((n) => status.get(n) !== 'passed');
      if (blocker) {
        status.set(name, 'skipped');
        await t.test(name, { skip: `not run: needs step "${blocker}", which ${status.get(blocker) === 'failed' ? 'failed' : 'did not run'}` }, () => {});
        return;
      }
      const t0 = performance.now();
      await t.test(name, async () => {
        try {
          await fn(ui(page, name));
          status.set(name, 'passed');
        } catch (e) {
          status.set(name, 'failed');
          if (e instanceof MissingUI && !e.message.startsWith('step ')) e.message = `step "${name}": ${e.message}`;
          await page.screenshot({ path: join(ARTIFACTS, `FAILED-${name.replace(/\W+/g, '-')}.png`) }).catch(() => {});
          throw e;
        } finally {
          timings.push([`step: ${name}`, performance.now() - t0]);
        }
      });
    };

    // ---- 1. sign in ---------------------------------------------------------
    await step('sign in', [], async (u) => {
      await page.goto(stack.url, { waitUntil: 'commit' });
      shared.firstFormReady = await frameTime(page, signInInteractive, undefined, 30000).catch(() => {
        throw new MissingUI('step "sign in": no enabled button "Sign in" with an input labelled "Username" (sign-in screen)');
      });
      await u.heading('Sign in to Timebridge');
      await page.screenshot({ path: join(ARTIFACTS, 'signin-desktop.png') });
      // A wrong password shows an error and stays on the sign-in screen.
      await (await u.label('Username')).fill(stack.user);
      await (await u.label('Password')).fill('wrong-password');
      await (await u.button('Sign in')).click();
      await page.waitForTimeout(500);
      await u.heading('Sign in to Timebridge');
      await (await u.label('Username')).fill(stack.user);
      await (await u.label('Password')).fill(PASSWORD);
      await (await u.button('Sign in')).click();
      await u.testid('nav', { timeout: 15000 });
      await u.testid('signout');
      await u.heading('Dashboard');
      assert.equal(await page.title(), 'Dashboard · Timebridge');
      // A fresh stack: the first-run guide shows every step to do, the first one next.
      await expectGuide(page, GUIDE(0), 'on a fresh stack');
      const next = page.getByTestId('setup-guide').locator('[aria-current="step"]');
      assert.equal(await next.getAttribute('data-step'), 'zammad', 'the next step on a fresh stack');
      await page.screenshot({ path: join(ARTIFACTS, 'guide-fresh-desktop.png') });
      // Its link goes to the page where the step is done, without a reload.
      await page.evaluate(() => { window.__noReload = true; });
      await next.getByRole('link').click();
      await u.heading('Connectors');
      assert.equal(await page.evaluate(() => location.pathname), '/connectors');
      assert.equal(await page.evaluate(() => window.__noReload), true, 'following a link reloaded the page');
    });

    // ---- 2. connectors --------------------------------------------------------
    const addConnector = async (u, kind, name, baseURL, token) => {
      const sec = await gotoSection(page, 'connectors', 'Connectors');
      const form = (await u.testid('connector-form', { within: sec })).first();
      const kindCtl = (await u.label('Kind', { within: form })).first();
      const tag = await kindCtl.evaluate((e) => e.tagName.toLowerCase());
      if (tag === 'select' || (await kindCtl.getAttribute('role')) === 'combobox') await choose(kindCtl, kind === 'zammad' ? 'Zammad' : 'Kimai', 'connectors');
      else await form.getByRole('radio', { name: kind === 'zammad' ? 'Zammad' : 'Kimai' }).check();
      await (await u.label('Name', { within: form })).first().fill(name);
      await (await u.label('Base URL', { within: form })).first().fill(baseURL);
      await (await u.label('Token', { within: form })).first().fill(token);
      await (await u.button('Save connector', { within: form })).click();
      await u.testid('connector-row', { hasText: name, timeout: 15000 });
      await u.testid('toast');
    };
    await step('add and test both connectors', ['sign in'], async (u) => {
      await addConnector(u, 'zammad', 'Demo Zammad', stack.zammad, stack.zammad_token);
      await addConnector(u, 'kimai', 'Demo Kimai', stack.kimai, stack.kimai_token);
      for (const name of ['Demo Zammad', 'Demo Kimai']) {
        const row = (await u.testid('connector-row', { hasText: name })).first();
        await (await u.testid('test-connection', { within: row })).first().click();
        const res = (await u.testid('test-result', { within: row, timeout: 20000 })).first();
        await page.waitForFunction((el) => el.textContent.trim().length > 0, await res.elementHandle());
        const text = (await res.innerText()).trim();
        log(`test connection ${name}: ${text.replace(/\s+/g, ' ').slice(0, 160)}`);
        assert.doesNotMatch(text, /fail|error|denied|invalid|unauthori[sz]ed|unreachable|refused/i, `${name}: ${text}`);
      }
      // Both connectors added, the Zammad one tested: two steps done.
      await expectGuide(page, GUIDE(2), 'after adding and testing both connectors');
    });

    // ---- 2b. connectors: named buttons, one edit form, focus (issue 11 item 5) ----
    await step('connectors: named buttons, one edit form, focus after a failed submit', ['add and test both connectors'], async (u) => {
      const sec = await gotoSection(page, 'connectors', 'Connectors');
      // Repeated buttons name their connector; their visible text stays short.
      for (const name of ['Demo Zammad', 'Demo Kimai']) {
        for (const [label, text] of [[`Edit connector “${name}”`, 'Edit'], [`Delete connector “${name}”`, 'Delete'], [`Test connection to connector “${name}”`, 'Test connection']]) {
          const b = sec.getByRole('button', { name: label, exact: true });
          assert.equal(await b.count(), 1, `one button named ${label}`);
          assert.equal((await b.innerText()).trim(), text, `visible text of ${label}`);
        }
      }
      // A failed submit moves focus to the first invalid field, not left on the button.
      const form = (await u.testid('connector-form', { within: sec })).first();
      await (await u.label('Name', { within: form })).first().fill('');
      await (await u.button('Save connector', { within: form })).click();
      await page.waitForFunction(() => document.activeElement?.getAttribute('aria-invalid') === 'true', undefined, { timeout: UI_TIMEOUT })
        .catch(async () => { throw new Error(`focus after a failed submit is on ${await page.evaluate(() => document.activeElement?.outerHTML.slice(0, 120))}`); });
      assert.equal(await page.evaluate(() => document.activeElement?.labels?.[0]?.textContent), 'Name', 'focus on the first invalid field');
      // Edit opens one form, saying "Save changes"; the Add form steps aside.
      await sec.getByRole('button', { name: 'Edit connector “Demo Zammad”', exact: true }).click();
      const edit = (await u.testid('connector-edit-form', { within: sec })).first();
      await u.button('Save changes', { within: edit });
      assert.equal(await sec.getByTestId('connector-form').count(), 0, 'the Add form is shown while a connector is edited');
      assert.equal(await sec.getByRole('button', { name: 'Save connector', exact: true }).count(), 0, 'a second "Save connector" button');
      assert.ok(await edit.evaluate((f) => f.contains(document.activeElement)), 'focus moved into the edit form');
      await page.screenshot({ path: join(ARTIFACTS, 'connector-edit-desktop.png') });
      await (await u.button('Cancel', { within: edit })).click();
      await u.testid('connector-form', { within: sec });
      await page.waitForFunction(() => document.activeElement?.getAttribute('aria-label') === 'Edit connector “Demo Zammad”', undefined, { timeout: UI_TIMEOUT })
        .catch(() => { throw new Error('focus did not return to the Edit button after Cancel'); });
    });

    // ---- 3. profile ------------------------------------------------------------
    await step('create a profile', ['add and test both connectors'], async (u) => {
      const sec = await gotoSection(page, 'profiles', 'Profiles');
      const form = (await u.testid('profile-form', { within: sec })).first();
      await (await u.label('Name', { within: form })).first().fill('Support');
      await choose((await u.label('Zammad connector', { within: form })), 'Demo Zammad', 'create a profile');
      await choose((await u.label('Kimai connector', { within: form })), 'Demo Kimai', 'create a profile');
      // A new profile starts disabled (no Enabled switch on create); the
      // dashboard offers the schedule after the first successful Apply.
      assert.equal(await form.getByLabel('Enabled', { exact: true }).count(), 0, 'the create form offers "Enabled"');
      for (const sw of ['Auto-create customers', 'Auto-create projects', 'Auto-create activities'])
        await setChecked(await u.label(sw, { within: form }), true);
      await (await u.button('Save profile', { within: form })).click();
      const row = (await u.testid('profile-row', { hasText: 'Support', timeout: 15000 })).first();
      await u.testid('toast');
      const hook = (await u.testid('webhook-url', { within: page })).first();
      const hookText = (await hook.innerText()) || (await hook.inputValue().catch(() => ''));
      assert.match(hookText + (await hook.getAttribute('value') ?? ''), /\/webhooks\/zammad\//, 'webhook URL shown');
      await u.testid('copy-webhook-url');
      await u.testid('rotate-secret');
      shared.profileRow = row;
      await expectGuide(page, GUIDE(3), 'after creating the profile');
    });

    // ---- 4. mapping --------------------------------------------------------------
    await step('map an activity', ['create a profile'], async (u) => {
      const sec = await gotoSection(page, 'mappings', 'Mappings');
      const profilePicker = sec.getByLabel('Profile', { exact: true });
      if (await profilePicker.count()) await choose(profilePicker, 'Support', 'map an activity');
      const kindPicker = sec.getByLabel('Kind', { exact: true });
      if (await kindPicker.count()) await choose(kindPicker, 'activity', 'map an activity');
      await u.testid('mapping-row', { within: sec, timeout: 15000 });
      const activityRows = sec.locator('[data-testid="mapping-row"][data-kind="activity"]');
      const row = ((await activityRows.count()) ? activityRows : sec.getByTestId('mapping-row')).first();
      const picker = row.locator('select, [role="combobox"], input[type="search"], input[list]').first();
      try { await picker.waitFor({ state: 'visible', timeout: UI_TIMEOUT }); } catch {
        throw new MissingUI('step "map an activity": the first [data-testid="mapping-row"] has no target picker (select or combobox)');
      }
      await choose(picker, 'Mapped support', 'map an activity');
      const save = row.getByRole('button', { name: /save|map|apply/i });
      if (await save.count()) await save.first().click();
      await u.testid('toast', { timeout: 10000 });
      await u.testid('mapping-row', { within: sec, hasText: 'Mapped support' });
    });

    // ---- 5. preview, apply, dashboard numbers ---------------------------------------
    await step('preview then apply a sync; dashboard numbers change', ['create a profile'], async (u) => {
      await gotoSection(page, 'dashboard', 'Dashboard');
      const card = (await u.testid('dashboard-card', { hasText: 'Support', timeout: 15000 })).first();
      const synced = (await u.testid('synced-entries', { within: card })).first();
      const before = await intOf(synced);
      shared.syncedBefore = before;
      await page.screenshot({ path: join(ARTIFACTS, 'dashboard-before-sync-desktop.png') });
      const inCard = card.getByTestId('preview');
      await ((await inCard.count()) ? inCard : (await u.testid('preview'))).first().click();
      const plan = (await u.testid('plan-table', { timeout: SYNC_TIMEOUT })).first();
      const planText = await plan.innerText();
      log(`preview plan: ${planText.replace(/\s+/g, ' ').slice(0, 200)}`);
      await page.screenshot({ path: join(ARTIFACTS, 'preview-plan-desktop.png') });
      // Nothing is written by a preview.
      assert.equal((await k.timesheets()).length, 0, 'a preview wrote timesheets to Kimai');
      await expectGuide(page, GUIDE(4), 'after a preview');
      await (await u.testid('apply-preview')).first().click();
      await u.testid('toast');
      const t0 = performance.now();
      await page.waitForFunction(
        ({ el, before }) => { const n = Number(el.textContent.replace(/[^\d]/g, '')); return n > 0 && !(n <= before); },
        { el: await synced.elementHandle(), before: Number.isNaN(before) ? 0 : before }, { timeout: SYNC_TIMEOUT, polling: 250 },
      ).catch(async () => {
        throw new Error(`step "preview then apply": synced-entries stayed "${await synced.innerText()}" for ${SYNC_TIMEOUT} ms after Apply`);
      });
      const after = await intOf(synced);
      const sheets = await k.timesheets();
      log(`dashboard synced-entries ${before} → ${after} in ${ms(performance.now() - t0)}; Kimai holds ${sheets.length} timesheets`);
      assert.ok(sheets.length > 0, 'Apply created timesheets in Kimai');
      if (shared.activity) assert.ok(sheets.some((s) => (s.activity?.id ?? s.activity) === shared.activity.id), 'the mapped activity was used');
      shared.syncedAfter = after;
      // The first successful sync of a disabled profile offers its schedule.
      const offer = (await u.testid('enable-schedule', { within: card, timeout: SYNC_TIMEOUT })).first();
      await page.screenshot({ path: join(ARTIFACTS, 'enable-schedule-desktop.png') });
      await expectGuide(page, GUIDE(5), 'after Apply');
      await (await u.button('Turn on the schedule', { within: offer })).click();
      await offer.waitFor({ state: 'detached', timeout: 15000 });
      // Every step done: the guide is gone, on the Dashboard and above the other pages.
      await expectGuide(page, null, 'after turning on the schedule');
      await gotoSection(page, 'runs', 'Runs');
      assert.equal(await page.getByTestId('setup-banner').count(), 0, 'the setup banner after setup is complete');
      // The Add forms are put behind their buttons once setup is complete.
      const conns = await gotoSection(page, 'connectors', 'Connectors');
      assert.equal(await conns.getByTestId('connector-form').count(), 0, 'the Add connector form is collapsed after setup');
      await (await u.button('Add connector', { within: conns })).click();
      await u.testid('connector-form', { within: conns });
      const profs = await gotoSection(page, 'profiles', 'Profiles');
      assert.equal(await profs.getByTestId('profile-form').count(), 0, 'the Add profile form is collapsed after setup');
      await u.button('Add profile', { within: profs });
    });

    // ---- 6. conflict: edit in Kimai, then in Zammad; Sync now; resolve ----------------
    await step('create a conflict and resolve it in the UI', ['preview then apply a sync; dashboard numbers change'], async (u) => {
      const sheets = await k.timesheets();
      const sheet = sheets.find((s) => markerRE.test(s.description || ''));
      assert.ok(sheet, 'a synced timesheet with a Timebridge marker');
      const entryID = Number(sheet.description.match(markerRE)[2]);
      const entry = await z.entry(entryID);
      await k.patchTimesheet(sheet.id, { description: `${sheet.description} (reviewed)` });
      const units = Number(entry.time_unit) + 15;
      await z.updateEntry(entry.ticket_id, entryID, { time_unit: String(units) });
      log(`conflict setup: Kimai timesheet ${sheet.id} description edited, Zammad entry ${entryID} (ticket ${entry.ticket_id}) time_unit ${entry.time_unit} → ${units}`);

      await gotoSection(page, 'dashboard', 'Dashboard');
      const card = (await u.testid('dashboard-card', { hasText: 'Support' })).first();
      const open = (await u.testid('open-conflicts', { within: card })).first();
      const openBefore = await intOf(open);
      const inCard = card.getByTestId('sync-now');
      await ((await inCard.count()) ? inCard : (await u.testid('sync-now'))).first().click();
      await u.testid('toast');
      await page.waitForFunction(({ el, before }) => Number(el.textContent.replace(/[^\d]/g, '')) > before,
        { el: await open.elementHandle(), before: Number.isNaN(openBefore) ? 0 : openBefore }, { timeout: SYNC_TIMEOUT, polling: 250 })
        .catch(async () => { throw new Error(`step "create a conflict": open-conflicts stayed "${await open.innerText()}" (was ${openBefore}) for ${SYNC_TIMEOUT} ms after Sync now`); });
      log(`dashboard open-conflicts ${openBefore} → ${await intOf(open)} after Sync now`);

      const sec = await gotoSection(page, 'conflicts', 'Conflicts');
      const group = (await u.testid('conflict-group', { within: sec, timeout: 15000 })).filter({ has: page.locator(`[data-entry="${entryID}"]`) });
      const kind = await group.first().getAttribute('data-kind');
      assert.equal(kind, 'edited_in_kimai', 'conflict group kind');
      const conflictCard = group.first().locator(`[data-testid="conflict-card"][data-entry="${entryID}"]`);
      await conflictCard.waitFor({ state: 'visible', timeout: UI_TIMEOUT });
      await page.screenshot({ path: join(ARTIFACTS, 'conflict-open-desktop.png') });
      await (await u.testid('resolve-use_zammad', { within: conflictCard })).first().click();
      // A confirmation, if the UI asks for one.
      const confirm = page.getByRole('dialog').getByRole('button', { name: /resolve|use zammad|confirm|yes/i });
      if (await confirm.count()) await confirm.first().click();
      await u.testid('toast');
      await conflictCard.waitFor({ state: 'detached', timeout: 20000 }).catch(() => {
        throw new Error(`step "conflict": the card for entry ${entryID} is still shown as open after resolve-use_zammad`);
      });
      const fixed = await k.timesheet(sheet.id);
      assert.equal(fixed.duration, units * 60, 'use_zammad wrote Zammad\'s time to Kimai');
      shared.conflictResolved = true;
    });

    // ---- 7. audit log filter ---------------------------------------------------------
    await step('filter the audit log', ['sign in'], async (u) => {
      const sec = await gotoSection(page, 'audit', 'Audit log');
      await u.testid('audit-row', { within: sec, timeout: 15000 });
      const type = shared.conflictResolved ? 'conflict.resolved' : 'connector.created';
      const typeCtl = (await u.testid('audit-filter-type', { within: sec })).first();
      const tag = await typeCtl.evaluate((e) => e.tagName.toLowerCase());
      if (tag === 'select') await choose(typeCtl, type, 'filter the audit log');
      else await typeCtl.fill(type);
      if (status.get('create a profile') === 'passed') {
        const prof = (await u.testid('audit-filter-profile', { within: sec })).first();
        await choose(prof, 'Support', 'filter the audit log');
      }
      await page.waitForFunction(
        (t) => { const rows = [...document.querySelectorAll('[data-testid="audit-row"]')]; return rows.length > 0 && rows.every((r) => r.dataset.type === t || r.textContent.includes(t)); },
        type, { timeout: 15000, polling: 250 },
      ).catch(async () => {
        const rows = await sec.getByTestId('audit-row').allInnerTexts();
        throw new Error(`step "audit": after filtering by ${type}, rows are: ${rows.slice(0, 5).map((r) => r.replace(/\s+/g, ' ')).join(' | ') || '(none)'}`);
      });
      const n = await sec.getByTestId('audit-row').count();
      log(`audit log filtered by ${type}: ${n} row(s)`);
      const exp = (await u.testid('audit-export-csv', { within: sec })).first();
      const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 10000 }), exp.click()]);
      const csvPath = join(ARTIFACTS, 'audit-export.csv');
      await dl.saveAs(csvPath);
      const { readFileSync } = await import('node:fs');
      const csv = readFileSync(csvPath, 'utf8').trim().split(/\r?\n/);
      assert.ok(csv.length >= 2 && csv.slice(1).every((l) => l.includes(type)), `CSV export of the filtered view (${csv.length} lines)`);
    });

    // ---- 7a. pages on real URLs: deep links, reload, back/forward, focus, not found ----
    await step('deep links and reloads of /runs and /conflicts, back/forward, focus on the heading, not found', ['sign in'], async (u) => {
      const current = () => page.getByTestId('nav').locator('a[aria-current="page"]').allInnerTexts();
      for (const [path, heading] of [['/runs', 'Runs'], ['/conflicts', 'Conflicts']]) {
        await page.goto(new URL(path, stack.url).href, { waitUntil: 'load' });
        await u.heading(heading, { timeout: 15000 });
        assert.deepEqual(await current(), [heading], `aria-current on a deep link to ${path}`);
        assert.equal(await page.title(), `${heading} · Timebridge`);
        await page.reload({ waitUntil: 'load' });
        await u.heading(heading, { timeout: 15000 });
        assert.equal(await page.evaluate(() => location.pathname), path, `the address after reloading ${path}`);
        assert.deepEqual(await current(), [heading], `aria-current after reloading ${path}`);
        await page.screenshot({ path: join(ARTIFACTS, `deeplink-${heading.toLowerCase()}-desktop.png`) });
      }
      // A query string survives a deep link.
      await page.goto(new URL('/audit?from=2026-11-01', stack.url).href, { waitUntil: 'load' });
      await u.heading('Audit log', { timeout: 15000 });
      assert.equal(await page.evaluate(() => location.search), '?from=2026-11-01');

      // Back and forward, without reloading; focus moves to each page's heading.
      await page.evaluate(() => { window.__noReload = true; });
      await gotoSection(page, 'dashboard', 'Dashboard');
      await gotoSection(page, 'connectors', 'Connectors');
      assert.equal(await page.evaluate(() => document.activeElement?.tagName + ' ' + document.activeElement?.textContent), 'H2 Connectors',
        'focus after following a nav link');
      await gotoSection(page, 'runs', 'Runs');
      await page.goBack();
      await u.heading('Connectors');
      assert.equal(await page.evaluate(() => location.pathname), '/connectors', 'Back');
      assert.deepEqual(await current(), ['Connectors'], 'aria-current after Back');
      await page.goBack();
      await u.heading('Dashboard');
      assert.equal(await page.evaluate(() => location.pathname), '/', 'Back again');
      await page.goForward();
      await u.heading('Connectors');
      assert.equal(await page.title(), 'Connectors · Timebridge', 'the title after Forward');
      await page.goForward();
      await u.heading('Runs');
      assert.equal(await page.evaluate(() => window.__noReload), true, 'back/forward reloaded the page');

      // A run's page, from a run's address.
      const runId = await page.evaluate(async () => {
        const s = JSON.parse(sessionStorage.getItem('timebridge.session'));
        const r = await fetch('/api/runs?limit=1', { headers: { Authorization: `Bearer ${s.token}` } }).then((x) => x.json());
        return r.items?.[0]?.id ?? null;
      });
      if (runId) {
        await page.goto(new URL(`/runs/${encodeURIComponent(runId)}`, stack.url).href, { waitUntil: 'load' });
        await u.testid('nav', { timeout: 15000 });
        assert.deepEqual(await current(), ['Runs'], 'a run page is under Runs');
        assert.match(await page.title(), / · Timebridge$/);
      }

      // An unknown path: a not-found page with a link home.
      await page.goto(new URL('/no/such/page', stack.url).href, { waitUntil: 'load' });
      await u.heading('Page not found', { timeout: 15000 });
      assert.equal(await page.title(), 'Page not found · Timebridge');
      await page.getByRole('link', { name: 'Go to the Dashboard', exact: true }).click();
      await u.heading('Dashboard');
      assert.equal(await page.evaluate(() => location.pathname), '/');
    });

    // ---- 7b. 360 px: the menu reaches every page, current marked, tables unbroken, skip link ------
    await step('360 px: the menu reaches every page and marks it current, tables unbroken, skip link focuses main', ['sign in'], async (u) => {
      await page.setViewportSize(PHONE);
      try {
        // The skip link is the first stop and focuses <main>.
        await page.goto(stack.url, { waitUntil: 'load' });
        // At 360 px the pages are behind the menu button (the list is hidden until it is opened).
        await u.testid('menu-button', { timeout: 15000 });
        await page.keyboard.press('Tab');
        const skip = page.getByRole('link', { name: 'Skip to content', exact: true });
        assert.ok(await skip.evaluate((a) => a === document.activeElement), 'Tab from the top reaches the skip link first');
        const sb = await skip.boundingBox();
        assert.ok(sb && sb.x >= 0 && sb.x + sb.width <= PHONE.width, `the focused skip link is in view: ${JSON.stringify(sb)}`);
        await page.keyboard.press('Enter');
        assert.equal(await page.evaluate(() => document.activeElement?.id), 'main', 'the skip link focuses main');
        await page.keyboard.press('Tab');
        assert.ok(await page.evaluate(() => document.getElementById('main').contains(document.activeElement)), 'the next Tab stays in the main content');

        // Nothing in the top bar is cut off at 360 px.
        const clipped = await page.evaluate((w) => [...document.querySelectorAll('header.topbar a, header.topbar button')]
          .filter((e) => e.getClientRects().length > 0)
          .map((e) => ({ t: e.textContent.trim(), r: e.getBoundingClientRect() }))
          .filter(({ r }) => r.x < 0 || r.right > w + 0.5)
          .map(({ t, r }) => `${t} ${Math.round(r.x)}–${Math.round(r.right)}`), PHONE.width);
        assert.deepEqual(clipped, [], 'top bar controls cut off at 360 px');

        // The menu button opens the list of pages; every link is fully in view; following
        // it shows the page, marks it current and closes the menu.
        const nav = page.getByTestId('nav');
        const menu = page.getByTestId('menu-button');
        assert.ok(await menu.isVisible(), 'a menu button at 360 px');
        for (const [id, , heading] of PAGES) {
          await menu.click();
          assert.equal(await menu.getAttribute('aria-expanded'), 'true', 'the menu button says it is open');
          const link = nav.getByRole('link', { name: heading, exact: true });
          await link.waitFor({ state: 'visible', timeout: UI_TIMEOUT });
          const visible = await link.evaluate((a) => {
            const r = a.getBoundingClientRect();
            const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
            return { x: Math.round(r.x), right: Math.round(r.right), y: Math.round(r.y), bottom: Math.round(r.bottom), hit: a.contains(hit) };
          });
          assert.ok(visible.hit && visible.x >= 0 && visible.right <= PHONE.width && visible.y >= 0 && visible.bottom <= PHONE.height,
            `nav link "${heading}" is not fully in view at 360 px: ${JSON.stringify(visible)}`);
          if (id === 'dashboard') await page.screenshot({ path: join(ARTIFACTS, 'menu-open-phone.png') });
          await link.click();
          await page.getByRole('heading', { level: 2, name: heading, exact: true }).waitFor({ state: 'visible', timeout: UI_TIMEOUT });
          assert.equal(await page.evaluate(() => location.pathname), pathOf(id));
          assert.equal(await menu.getAttribute('aria-expanded'), 'false', `the menu closes after choosing "${heading}"`);
          await menu.click();
          await page.waitForFunction((h) => [...document.querySelectorAll('[data-testid="nav"] a[aria-current="page"]')].map((a) => a.textContent) + '' === h, heading, { timeout: 3000 })
            .catch(async () => { throw new Error(`after following "${heading}", aria-current is on ${await nav.locator('a[aria-current]').allInnerTexts()}`); });
          const style = await link.evaluate((a) => { const c = getComputedStyle(a); return `${c.fontWeight} ${c.borderLeftColor} ${c.backgroundColor}`; });
          const other = await nav.getByRole('link', { name: id === 'dashboard' ? 'Runs' : 'Dashboard', exact: true })
            .evaluate((a) => { const c = getComputedStyle(a); return `${c.fontWeight} ${c.borderLeftColor} ${c.backgroundColor}`; });
          assert.notEqual(style, other, `the current link "${heading}" looks like the others`);
          await menu.click();
          const bar = await page.locator('header.topbar').boundingBox();
          const h2 = await page.getByRole('heading', { level: 2, name: heading, exact: true }).boundingBox();
          assert.ok(h2 && bar && h2.y >= bar.y + bar.height - 1, `heading "${heading}" is under the top bar: ${JSON.stringify({ h2, bar })}`);
        }

        // No word in the Runs table or the audit table is broken across lines.
        const broken = (sel) => page.evaluate((sel) => {
          const out = [];
          for (const cell of document.querySelectorAll(sel)) {
            const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
            for (let n = walker.nextNode(); n; n = walker.nextNode()) {
              for (const m of n.textContent.matchAll(/[^\s.·]+/g)) {
                const r = document.createRange();
                r.setStart(n, m.index);
                r.setEnd(n, m.index + m[0].length);
                const lines = new Set([...r.getClientRects()].filter((x) => x.width > 0).map((x) => Math.round(x.top)));
                if (lines.size > 1) out.push(m[0]);
              }
            }
          }
          return out;
        }, sel);
        await gotoSection(page, 'runs', 'Runs');
        const runRows = await page.getByTestId('run-row').count();
        await gotoSection(page, 'audit', 'Audit log');
        const auditRows = await page.getByTestId('audit-row').count();
        log(`360 px: ${runRows} run rows, ${auditRows} audit rows checked for words broken across lines`);
        assert.ok(auditRows > 0, 'audit rows to check');
        assert.deepEqual(await broken('[data-testid="runs-table"] th, [data-testid="runs-table"] td'), [], 'words broken in the Runs table at 360 px');
        assert.deepEqual(await broken('[data-testid="audit-table"] th, [data-testid="audit-table"] td'), [], 'words broken in the audit table at 360 px');
        await page.screenshot({ path: join(ARTIFACTS, 'audit-table-phone.png') });
      } finally {
        await page.setViewportSize(DESKTOP);
      }
    });

    // ---- 8. screenshots of each section, desktop and phone ---------------------------
    await step('screenshots of each section (1280x800, 360x740)', ['sign in'], async () => {
      const absent = [];
      for (const [vpName, vp] of [['desktop', DESKTOP], ['phone', PHONE]]) {
        await page.setViewportSize(vp);
        for (const [id, , heading] of PAGES) {
          try {
            await gotoSection(page, id, heading, 2000);
          } catch {
            if (vpName === 'desktop') absent.push(pathOf(id));
            continue;
          }
          await page.waitForTimeout(250);
          await page.screenshot({ path: join(ARTIFACTS, `${id}-${vpName}.png`) });
        }
      }
      await page.setViewportSize(DESKTOP);
      // The README's screenshot is refreshed on request only, so that a test
      // run leaves the work tree clean: UPDATE_SCREENSHOT=1 make e2e.
      if (process.env.UPDATE_SCREENSHOT === '1' && existsSync(join(ARTIFACTS, 'dashboard-desktop.png')) &&
          status.get('preview then apply a sync; dashboard numbers change') === 'passed') {
        mkdirSync(join(repoRoot, 'docs'), { recursive: true });
        copyFileSync(join(ARTIFACTS, 'dashboard-desktop.png'), join(repoRoot, 'docs', 'screenshot-dashboard.png'));
        log('copied artifacts/dashboard-desktop.png to docs/screenshot-dashboard.png');
      }
      assert.deepEqual(absent, [], `sections missing from the page: ${absent.join(', ')}`);
    });

    // ---- 9. time to interactive ----------------------------------------------------
    await step('time to interactive', ['preview then apply a sync; dashboard numbers change'], async () => {
      const m = await measureTTI(browser, stack);
      log(`TTI first visit (empty stack): navigation start → sign-in form interactive ${ms(shared.firstFormReady)}`);
      log(`TTI fresh context: TTFB ${ms(m.ttfb)}, FCP ${ms(m.fcp ?? NaN)}, DOMContentLoaded ${ms(m.dcl)}, load ${ms(m.load)}, `
        + `navigation start → sign-in form interactive ${ms(m.formReady)}; sign-in click → dashboard rendered with data ${ms(m.signInToDashboard)}`);
      timings.push(['TTI: navigation start → sign-in form interactive', m.formReady], ['TTI: sign-in → dashboard with data', m.signInToDashboard]);
    });

    if (consoleErrors.length) log(`browser console errors (${consoleErrors.length}):\n  ${consoleErrors.slice(0, 10).join('\n  ')}`);
    const summary = [...status].map(([k, v]) => `${v.padEnd(7)} ${k}`).join('\n  ');
    log(`steps:\n  ${summary}`);
  } finally {
    if (browser) await browser.close().catch(() => {});
    if (stack) await stack.stop();
    timings.push(['whole scenario (incl. build, start, stop)', performance.now() - scenarioStart]);
    log(`timings:\n  ${timings.map(([k, v]) => `${k.padEnd(52)} ${ms(v)}`).join('\n  ')}`);
  }
});
