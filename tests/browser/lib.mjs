// What the browser scenarios share: Debian's chromium through playwright-core,
// the steps' log, a visitor who opens the demo page's widget and writes, an
// agent who logs in to the console and claims the visitor's conversation,
// and what every page showed when a step failed.
import { chromium } from 'playwright-core';

const started = Date.now();
/** A step of a flow, with the seconds since the flow began (where a slow suite spends them). */
export function step(name) { console.log(`step at ${((Date.now() - started) / 1000).toFixed(1)} s: ${name}`); }

export function launch() {
  return chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--headless'] });
}

/** Page errors and console errors (not a missing favicon) go to the log, marked with `who`. */
export function watch(who, page) {
  page.on('pageerror', (e) => console.log(who + ' page error: ' + e.message));
  page.on('console', (m) => { if (m.type() === 'error' && !/favicon|404/.test(m.text())) console.log(who + ' console: ' + m.text()); });
  return page;
}

/** A new page in a new context: a phone (390×780) for visitors, a desktop (1280×800) for agents. */
export async function newPage(browser, who, size) {
  const viewport = size === 'phone' ? { width: 390, height: 780 } : { width: 1280, height: 800 };
  const context = await browser.newContext({ viewport });
  return watch(who, await context.newPage());
}

/** The visitor opens `url` and the widget, answers the pre-chat form's name, and writes `text` (acked). */
export async function visitorWrites(page, url, name, text) {
  await page.goto(url);
  await page.getByTestId('mqchat-launcher').click();
  await page.getByTestId('mqchat-prechat-name').fill(name);
  await page.getByTestId('mqchat-prechat-submit').click();
  await page.getByTestId('mqchat-input').fill(text);
  await page.getByTestId('mqchat-send').click();
  await page.locator('[data-testid=mqchat-message][data-state]:not([data-state=sending])').first().waitFor({ timeout: 15000 });
  return page.evaluate(() => window.mqchatWidget.state.visitor);
}

/** The agent logs in to the console at `url`. */
export async function agentLogsIn(page, url, user, password) {
  await page.goto(url);
  await page.getByTestId('login-user').fill(user);
  await page.getByTestId('login-password').fill(password);
  await page.getByTestId('login-submit').click();
  await page.getByTestId('agent-name').filter({ hasText: user }).waitFor({ timeout: 15000 });
}

/** The agent finds the visitor in the queue and claims it; returns the queue item (before the claim). */
export async function claim(page, visitor) {
  const item = page.getByTestId('queue-item').filter({ hasText: visitor });
  await item.waitFor({ timeout: 15000 });
  const preview = await item.getByTestId('queue-preview').textContent();
  await item.getByTestId('claim').click();
  await page.getByTestId('mine-item').filter({ hasText: visitor }).waitFor({ timeout: 15000 });
  return { preview };
}

/** After a failed step: each page's text (and a screenshot into `shots`, if given), then the error again. */
export async function showPages(browser, shots) {
  for (const ctx of browser.contexts())
    for (const page of ctx.pages()) {
      console.log('--- ' + page.url() + ' at the failure:\n' + (await page.locator('body').innerText().catch(() => '?')));
      if (shots) await page.screenshot({ path: shots + '/failure-' + ctx.pages().indexOf(page) + '-' + browser.contexts().indexOf(ctx) + '.png' }).catch(() => {});
    }
}
