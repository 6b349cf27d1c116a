// End-to-end: two buyers in one headless Chromium (Debian's
// /usr/bin/chromium through playwright-core). B watches a show
// anonymously; A registers, logs out and in, holds two seats, and B must
// see them held without reloading; A pays with tok_visa, downloads a
// ticket PDF, and B sees the seats sold.
//
//   BASE_URL=http://127.0.0.1:8080 SHOW_ID=s_… SEATS=A-1,A-2 \
//   SCREENSHOT_DIR=/tmp/shots node e2e/buyer.mjs
//
// Optional: CHROMIUM (browser path), STEP_TIMEOUT_MS (default 15000),
// TICKET_TIMEOUT_MS (default 30000). Exits non-zero with the failing
// step's name; every step leaves a PNG in SCREENSHOT_DIR.

import { chromium } from 'playwright-core';
import { mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const BASE_URL = (process.env.BASE_URL ?? '').replace(/\/+$/, '');
const SHOW_ID = process.env.SHOW_ID ?? '';
const SEATS = (process.env.SEATS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
const SCREENSHOT_DIR = resolve(process.env.SCREENSHOT_DIR || 'e2e-screenshots');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const STEP_TIMEOUT = Number(process.env.STEP_TIMEOUT_MS || 15_000);
const TICKET_TIMEOUT = Number(process.env.TICKET_TIMEOUT_MS || 30_000);
/** How soon another buyer's hold or sale must show on B's map. */
const LIVE_TIMEOUT = 5_000;
/** The whole run may not take longer than this. */
const RUN_TIMEOUT = 240_000;

function usage(message) {
  console.error(`e2e: ${message}`);
  console.error('usage: BASE_URL=http://127.0.0.1:8080 SHOW_ID=<published show> SEATS=A-1,A-2 SCREENSHOT_DIR=<dir> node e2e/buyer.mjs');
  process.exit(2);
}
if (!/^https?:\/\//.test(BASE_URL)) usage('BASE_URL must be an http(s) URL');
if (!SHOW_ID) usage('SHOW_ID is required');
if (SEATS.length !== 2 || SEATS[0] === SEATS[1]) usage('SEATS must be two different seat labels, comma-separated');

const watchdog = setTimeout(() => {
  console.error(`e2e FAILED: the run took longer than ${RUN_TIMEOUT / 1000} s`);
  process.exit(1);
}, RUN_TIMEOUT);
watchdog.unref();

mkdirSync(SCREENSHOT_DIR, { recursive: true });

const seatSelector = (label, status) =>
  `.seat[data-label=${JSON.stringify(label)}]${status ? `[data-status=${JSON.stringify(status)}]` : ''}`;

let shot = 0;
async function screenshot(page, name) {
  shot += 1;
  const file = join(SCREENSHOT_DIR, `${String(shot).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true }).catch((error) => console.error(`  (screenshot ${file} failed: ${error.message})`));
  return file;
}

const results = [];
async function step(name, fn) {
  const started = Date.now();
  console.log(`▶ ${name}`);
  try {
    await fn();
  } catch (error) {
    results.push({ name, ok: false });
    error.step = name;
    throw error;
  }
  results.push({ name, ok: true });
  console.log(`✓ ${name} (${Date.now() - started} ms)`);
}

/** Fails with `message` unless `condition` holds. */
function check(condition, message) {
  if (!condition) throw new Error(message);
}

/** Waits for `selector` in `page`, failing with a message that says what was expected. */
async function waitFor(page, selector, what, timeout = STEP_TIMEOUT, state = 'attached') {
  try {
    await page.locator(selector).first().waitFor({ state, timeout });
  } catch {
    throw new Error(`${what}: not seen within ${timeout / 1000} s (selector ${selector})`);
  }
}

/** The API must answer and the show must be on sale before we start. */
async function preflight() {
  let response;
  try {
    response = await fetch(`${BASE_URL}/api/v1/shows/${encodeURIComponent(SHOW_ID)}`);
  } catch (error) {
    throw new Error(`cannot reach ${BASE_URL}: ${error.cause?.message ?? error.message}`);
  }
  if (!response.ok) throw new Error(`GET /api/v1/shows/${SHOW_ID} answered ${response.status}: ${await response.text()}`);
  const show = await response.json();
  check(show.status === 'published', `show ${SHOW_ID} is ${show.status}, not published`);
  const map = await (await fetch(`${BASE_URL}/api/v1/shows/${encodeURIComponent(SHOW_ID)}/seatmap`)).json();
  for (const label of SEATS) {
    const seat = map.seats?.find((s) => s.label === label);
    check(seat, `seat ${label} is not in show ${SHOW_ID} (first seats: ${map.seats?.slice(0, 3).map((s) => s.label).join(', ')})`);
    check(seat.status === 'available', `seat ${label} is already ${seat.status}; pick free seats with SEATS=`);
  }
  console.log(`  show "${show.title}" (${map.seats.length} seats), seats ${SEATS.join(', ')} are free`);
}

function watchConsole(page, who, log) {
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') log.push(`[${who} console.${message.type()}] ${message.text()}`);
  });
  page.on('pageerror', (error) => log.push(`[${who} page error] ${error.message}`));
  page.on('requestfailed', (request) => {
    // EventSource connections are cut when a page closes; not a failure.
    if (!request.url().includes('/seatmap/events')) log.push(`[${who} request failed] ${request.method()} ${request.url()} ${request.failure()?.errorText ?? ''}`);
  });
}

/** Proves B never reloaded: a marker set on its window must survive. */
async function assertNotReloaded(page) {
  const marker = await page.evaluate(() => window.__e2eNoReload === true);
  check(marker, "B's page was reloaded; live updates must arrive without a reload");
}

async function seatStatuses(page) {
  return page.evaluate(
    (labels) =>
      labels.map((label) => {
        const el = document.querySelector(`.seat[data-label="${CSS.escape(label)}"]`);
        return `${label}=${el?.getAttribute('data-status') ?? 'missing'}`;
      }),
    SEATS,
  );
}

async function main() {
  await step('preflight: API reachable, show published, seats free', preflight);

  const browser = await chromium.launch({
    headless: true,
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
  const log = [];
  const viewport = { width: 1440, height: 1000 };
  const contextB = await browser.newContext({ viewport });
  const contextA = await browser.newContext({ viewport, acceptDownloads: true });
  const pageB = await contextB.newPage();
  const pageA = await contextA.newPage();
  watchConsole(pageA, 'A', log);
  watchConsole(pageB, 'B', log);
  const showUrl = `${BASE_URL}/#/shows/${encodeURIComponent(SHOW_ID)}`;
  const email = `e2e-${Date.now()}-${Math.random().toString(36).slice(2, 8)}@example.com`;
  const password = 'e2e-password-1234';

  try {
    await step('B (anonymous) opens the show and sees both seats available, live', async () => {
      await pageB.goto(showUrl);
      for (const label of SEATS) await waitFor(pageB, seatSelector(label, 'available'), `B: seat ${label} available`);
      await waitFor(pageB, '.feed-status[data-state="live"]', 'B: live seat-map updates connected');
      await pageB.evaluate(() => (window.__e2eNoReload = true));
      await screenshot(pageB, 'b-show-available');
    });

    await step(`A registers ${email}`, async () => {
      await pageA.goto(`${BASE_URL}/#/register`);
      await pageA.locator('#f-email').fill(email);
      await pageA.locator('#f-password').fill(password);
      await pageA.locator('#f-display_name').fill('E2E Buyer');
      await screenshot(pageA, 'a-register-form');
      await pageA.getByRole('button', { name: 'Create account' }).click();
      await waitFor(pageA, '.whoami[data-logged-in="true"]', 'A: logged in after registering', 30_000).catch(async (error) => {
        const problem = await pageA.locator('.form-summary').innerText().catch(() => '');
        throw new Error(`${error.message}${problem ? ` — the page says: ${problem}` : ''}`);
      });
      await screenshot(pageA, 'a-registered');
    });

    await step('A logs out and logs in again', async () => {
      await pageA.locator('#logout').click();
      await waitFor(pageA, '#nav a[href="#/login"]', 'A: "Log in" link after logging out');
      await pageA.goto(`${BASE_URL}/#/login`);
      await pageA.locator('#f-email').fill(email);
      await pageA.locator('#f-password').fill(password);
      await pageA.getByRole('button', { name: 'Log in' }).click();
      await waitFor(pageA, '.whoami[data-logged-in="true"]', 'A: logged in', 30_000).catch(async (error) => {
        const problem = await pageA.locator('.form-summary').innerText().catch(() => '');
        throw new Error(`${error.message}${problem ? ` — the page says: ${problem}` : ''}`);
      });
      const token = await pageA.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
      check(token === '{}{}', `the page put something in Web Storage: ${token}`);
      await screenshot(pageA, 'a-logged-in');
    });

    await step(`A selects ${SEATS.join(' and ')} and holds them`, async () => {
      await pageA.goto(showUrl);
      for (const label of SEATS) {
        await waitFor(pageA, seatSelector(label, 'available'), `A: seat ${label} available`);
        await pageA.locator(seatSelector(label)).click();
        await waitFor(pageA, `${seatSelector(label)}[aria-checked="true"]`, `A: seat ${label} selected`, 2_000);
      }
      await screenshot(pageA, 'a-seats-selected');
      await pageA.getByRole('button', { name: 'Hold seats' }).click();
      const clock = pageA.locator('.hold-card .countdown').first();
      try {
        await pageA.waitForFunction(() => /\d+:\d\d/.test(document.querySelector('.hold-card .countdown')?.textContent ?? ''), null, { timeout: STEP_TIMEOUT });
      } catch {
        const message = await pageA.locator('.message-slot').first().innerText().catch(() => '');
        throw new Error(`A: no countdown after "Hold seats"${message ? ` — the page says: ${message}` : ''}`);
      }
      console.log(`  hold countdown shows ${await clock.textContent()}`);
      await screenshot(pageA, 'a-seats-held');
    });

    await step('B sees both seats held without reloading', async () => {
      for (const label of SEATS) {
        await waitFor(pageB, seatSelector(label, 'held'), `B: seat ${label} held`, LIVE_TIMEOUT).catch(async (error) => {
          throw new Error(`${error.message}; B's statuses: ${(await seatStatuses(pageB)).join(', ')}`);
        });
        const name = await pageB.locator(seatSelector(label)).getAttribute('aria-label');
        check(/held/.test(name ?? ''), `B: seat ${label}'s aria-label does not say held: ${name}`);
      }
      await assertNotReloaded(pageB);
      await screenshot(pageB, 'b-seats-held');
    });

    await step('A adds the hold to the cart and sees the total', async () => {
      const prices = await Promise.all(SEATS.map((label) => pageA.locator(seatSelector(label)).getAttribute('data-price-minor')));
      await pageA.getByRole('button', { name: 'Add to cart' }).first().click();
      await waitFor(pageA, '.order-card[data-order-status="cart"] .cart-total', 'A: cart with a total');
      const total = pageA.locator('.order-card[data-order-status="cart"] .cart-total').first();
      const text = (await total.innerText()).trim();
      const minor = Number(await total.getAttribute('data-total-minor'));
      const expected = prices.reduce((sum, p) => sum + Number(p), 0);
      check(/\d/.test(text), `A: the cart total is not a sum of money: "${text}"`);
      check(minor === expected, `A: the cart total is ${minor} minor units, the two seats cost ${expected}`);
      console.log(`  cart total ${text}`);
      await screenshot(pageA, 'a-cart');
    });

    await step('A pays with tok_visa and sees the order paid', async () => {
      const card = pageA.locator('.order-card[data-order-status="cart"]').first();
      const orderId = await card.getAttribute('data-order-id');
      await card.locator('select[name="payment_token"]').selectOption('tok_visa');
      await card.locator('button.pay').click();
      const settled = `.order-card[data-order-id=${JSON.stringify(orderId)}]:is([data-order-status="paid"], [data-order-status="payment_failed"])`;
      await waitFor(pageA, settled, `A: order ${orderId} paid`, 30_000).catch(async (error) => {
        const message = await pageA.locator('.order-card .message-slot').first().innerText().catch(() => '');
        throw new Error(`${error.message}${message ? ` — the page says: ${message}` : ''}`);
      });
      const status = await pageA.locator(`.order-card[data-order-id=${JSON.stringify(orderId)}]`).getAttribute('data-order-status');
      if (status !== 'paid') {
        const text = await pageA.locator(`.order-card[data-order-id=${JSON.stringify(orderId)}]`).innerText();
        throw new Error(`A: order ${orderId} is ${status}: ${text}`);
      }
      await screenshot(pageA, 'a-paid');
    });

    await step('A opens the orders page and downloads a ticket PDF', async () => {
      await pageA.locator('#nav a[href="#/orders"]').click();
      const links = '.order-card[data-order-status="paid"] a.ticket-download';
      await waitFor(pageA, links, 'A: a ticket download link', TICKET_TIMEOUT);
      await pageA.waitForFunction((selector) => document.querySelectorAll(selector).length >= 2, links, { timeout: TICKET_TIMEOUT }).catch(() => {
        throw new Error(`A: fewer than 2 tickets listed after ${TICKET_TIMEOUT / 1000} s`);
      });
      await screenshot(pageA, 'a-orders-tickets');
      const link = pageA.locator(links).first();
      const href = await link.getAttribute('href');
      const [download] = await Promise.all([pageA.waitForEvent('download', { timeout: STEP_TIMEOUT }), link.click()]);
      const failure = await download.failure();
      check(!failure, `A: the download of ${href} failed: ${failure}`);
      const bytes = readFileSync(await download.path());
      check(bytes.subarray(0, 4).toString('latin1') === '%PDF', `A: ${href} is not a PDF (starts with ${JSON.stringify(bytes.subarray(0, 40).toString('latin1'))})`);
      console.log(`  ${href}: ${bytes.length} bytes of PDF (${download.suggestedFilename()})`);
    });

    await step('B sees both seats sold without reloading', async () => {
      for (const label of SEATS) {
        await waitFor(pageB, seatSelector(label, 'sold'), `B: seat ${label} sold`, 10_000).catch(async (error) => {
          throw new Error(`${error.message}; B's statuses: ${(await seatStatuses(pageB)).join(', ')}`);
        });
      }
      await assertNotReloaded(pageB);
      await screenshot(pageB, 'b-seats-sold');
    });
  } catch (error) {
    await screenshot(pageA, 'FAILED-a');
    await screenshot(pageB, 'FAILED-b');
    if (log.length) console.error(log.slice(-30).join('\n'));
    throw error;
  } finally {
    await browser.close();
  }
}

try {
  await main();
  console.log(`e2e: ${results.length} passed, 0 failed; screenshots in ${SCREENSHOT_DIR}`);
  process.exit(0);
} catch (error) {
  console.error(`\ne2e FAILED${error.step ? ` at step "${error.step}"` : ''}: ${error.message}`);
  console.log(`e2e: ${results.filter((r) => r.ok).length} passed, 1 failed`);
  process.exit(1);
}
