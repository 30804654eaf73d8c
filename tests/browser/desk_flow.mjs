// A visitor in the demo page's widget and an agent in the console, both in
// Debian's chromium (playwright-core), against the real stack that
// tests/integration/browser_test.cpp started. Exits non-zero on the first
// failed expectation, saying which.
//
// env: MQCHAT_WEB (http://127.0.0.1:PORT), MQCHAT_AGENT / MQCHAT_AGENT_PASSWORD,
//      MQCHAT_IDENTITY_SECRET (the demo desk's, for a site that vouches for its users),
//      MQCHAT_WWW (the directory the stack serves, for that site's page),
//      MQCHAT_SHOTS (optional: a directory for screenshots)
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { agentLogsIn, claim, launch, newPage, showPages, step } from './lib.mjs';

const web = process.env.MQCHAT_WEB;
const agentName = process.env.MQCHAT_AGENT;
const agentPassword = process.env.MQCHAT_AGENT_PASSWORD;
const identitySecret = process.env.MQCHAT_IDENTITY_SECRET;
const www = process.env.MQCHAT_WWW;
const shots = process.env.MQCHAT_SHOTS || '';
const hostile = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=1</script>';
const long = 'L'.repeat(3000);

const browser = await launch();
try {
  const visitor = await newPage(browser, 'visitor', 'phone');
  const visitorContext = visitor.context();
  const agent = await newPage(browser, 'agent');

  step('the visitor opens the demo page and the widget, fills the pre-chat form and writes');
  await visitor.goto(web + '/index.html');
  await visitor.getByTestId('mqchat-launcher').click();
  await visitor.getByTestId('mqchat-prechat-name').fill(hostile);
  await visitor.getByTestId('mqchat-prechat-submit').click();
  await visitor.getByTestId('mqchat-input').fill('Hello, where is my order? ' + hostile);
  await visitor.getByTestId('mqchat-send').click();
  const first = visitor.getByTestId('mqchat-message').first();
  await first.and(visitor.locator('[data-state=sent]')).waitFor({ timeout: 15000 });
  await visitor.getByTestId('mqchat-input').fill(long);
  await visitor.getByTestId('mqchat-send').click();
  await visitor.getByTestId('mqchat-status').filter({ hasText: 'in the queue' }).waitFor({ timeout: 15000 });
  // This stack has no media service: the widget offers no attach button.
  assert.equal(await visitor.getByTestId('mqchat-attach').isHidden(), true, 'no attach button without attachments');

  step('the agent logs in, sees it in the queue with the hostile name as text, claims it');
  await agentLogsIn(agent, web + '/console.html', agentName, agentPassword);
  const visitorName = await visitor.evaluate(() => window.mqchatWidget.state.visitor);
  const { preview } = await claim(agent, visitorName);
  assert.ok(preview.startsWith('name: ' + hostile));
  const firstReceived = agent.getByTestId('message-body').first();
  await firstReceived.waitFor({ timeout: 15000 });
  assert.equal(await firstReceived.textContent(), 'Hello, where is my order? ' + hostile);
  await agent.getByTestId('message-body').nth(1).waitFor({ timeout: 15000 });
  assert.equal(await agent.getByTestId('message-body').nth(1).textContent(), long);
  assert.equal(await agent.getByTestId('visitor-detail-name').textContent(), hostile);
  assert.equal(await agent.locator('#messages img, #details img, #queue img').count(), 0, 'markup from a visitor became elements');

  step('the visitor sees who has it, and its messages as read');
  await visitor.getByTestId('mqchat-agent').filter({ hasText: agentName }).waitFor({ timeout: 15000 });
  await visitor.locator('[data-testid=mqchat-message][data-state=read]').first().waitFor({ timeout: 15000 });

  step('typing both ways');
  await agent.getByTestId('reply-input').pressSequentially('Let me', { delay: 30 });
  await visitor.getByTestId('mqchat-typing').filter({ hasText: agentName + ' is typing' }).waitFor({ timeout: 10000 });
  await visitor.getByTestId('mqchat-input').pressSequentially('thanks', { delay: 30 });
  await agent.getByTestId('typing').filter({ hasText: 'is typing' }).waitFor({ timeout: 10000 });
  await visitor.getByTestId('mqchat-input').fill('');

  step('the agent replies; the visitor sees it with the agent\'s name');
  await agent.getByTestId('reply-input').fill('Let me check that for you.');
  await agent.getByTestId('reply-send').click();
  const reply = visitor.locator('[data-testid=mqchat-message][data-sender="' + agentName + '"]');
  await reply.first().waitFor({ timeout: 15000 });
  assert.equal(await reply.first().getByTestId('mqchat-message-body').textContent(), 'Let me check that for you.');
  if (shots) {
    await visitor.screenshot({ path: shots + '/widget.png' });
    await agent.screenshot({ path: shots + '/console.png' });
  }

  step('a reload resumes the same conversation, nothing doubled');
  await visitor.reload();
  await visitor.getByTestId('mqchat-launcher').click();
  await visitor.locator('[data-testid=mqchat-message][data-sender="' + agentName + '"]').first().waitFor({ timeout: 15000 });
  assert.equal(await visitor.getByTestId('mqchat-message').count(), 3);

  step('the network drops while the visitor writes: the message waits, then goes once');
  await visitorContext.setOffline(true);
  await visitor.evaluate(() => window.mqchatWidget.state.client.stream.socket?.close?.());
  await visitor.getByTestId('mqchat-input').fill('sent while offline');
  await visitor.getByTestId('mqchat-send').click();
  await visitor.locator('[data-testid=mqchat-message][data-state=sending]').waitFor({ timeout: 5000 });
  await visitor.waitForTimeout(1500);
  await visitorContext.setOffline(false);
  await visitor.locator('[data-testid=mqchat-message]:last-child[data-state=sent], [data-testid=mqchat-message]:last-child[data-state=read], [data-testid=mqchat-message]:last-child[data-state=delivered]')
    .waitFor({ timeout: 30000 });
  await agent.getByTestId('message-body').filter({ hasText: 'sent while offline' }).waitFor({ timeout: 15000 });
  await agent.waitForTimeout(1000);
  assert.equal(await agent.getByTestId('message-body').filter({ hasText: 'sent while offline' }).count(), 1);
  assert.equal(await visitor.getByTestId('mqchat-message').filter({ hasText: 'sent while offline' }).count(), 1);

  step('the agent closes; the visitor rates');
  await agent.getByTestId('close').click();
  await visitor.getByTestId('mqchat-rating').waitFor({ timeout: 15000 });
  await visitor.getByTestId('mqchat-rate-4').click();
  await visitor.getByTestId('mqchat-rating-comment').fill('Quick and kind ' + hostile);
  await visitor.getByTestId('mqchat-rate-submit').click();
  await visitor.getByTestId('mqchat-rating-thanks').waitFor({ timeout: 15000 });

  step('a new conversation: the pre-chat form again, and the earlier one to read');
  await visitor.getByTestId('mqchat-new-conversation').click();
  await visitor.getByTestId('mqchat-prechat').waitFor({ timeout: 15000 });
  const earlierToggle = visitor.getByTestId('mqchat-earlier-toggle');
  await earlierToggle.filter({ hasText: 'Earlier conversations (1)' }).waitFor({ timeout: 15000 });
  await earlierToggle.click();
  await visitor.getByTestId('mqchat-earlier-message').filter({ hasText: 'sent while offline' }).waitFor({ timeout: 15000 });
  assert.equal(await visitor.getByTestId('mqchat-earlier-message').count(), 4, 'the earlier conversation\'s four messages');
  assert.equal(await visitor.getByTestId('mqchat-earlier-message').filter({ hasText: hostile }).count(), 1, 'markup shown as text');
  await earlierToggle.filter({ hasText: 'Back to the chat' }).click();
  await visitor.getByTestId('mqchat-earlier').waitFor({ state: 'hidden', timeout: 5000 });

  step('a customer the site vouches for finds the same conversation on another device');
  // The site's backend signs its user's id (HMAC-SHA256 under the desk's identity secret) into its page.
  const signature = createHmac('sha256', identitySecret).update('customer-77').digest('hex');
  // (Written where the stack serves its files: Chromium lets only a page from
  // a local address reach the loopback broker, so no route.fulfill here.)
  const template = readFileSync(www + '/index.html', 'utf8');
  const siteWithLogin = template.replace('<script src="mqchat-widget.js"',
    '<script src="mqchat-widget.js" data-identity-id="customer-77" data-identity-signature="' + signature +
    '" data-identity-name="Carla" data-identity-email="carla@example.com"');
  assert.notEqual(siteWithLogin, template, 'the demo page has the widget\'s script tag');
  writeFileSync(www + '/account.html', siteWithLogin);
  const device = async () => {
    const ctx = await browser.newContext({ viewport: { width: 390, height: 780 } });
    const page = await ctx.newPage();
    await page.goto(web + '/account.html');
    await page.getByTestId('mqchat-launcher').click();
    return page;
  };
  const laptop = await device();
  await laptop.getByTestId('mqchat-prechat-name').fill('Carla');
  await laptop.getByTestId('mqchat-prechat-submit').click();
  await laptop.getByTestId('mqchat-input').fill('written on my laptop');
  await laptop.getByTestId('mqchat-send').click();
  await laptop.locator('[data-testid=mqchat-message][data-state=sent]').waitFor({ timeout: 15000 });
  const phone = await device();
  await phone.getByTestId('mqchat-message-body').filter({ hasText: 'written on my laptop' }).waitFor({ timeout: 15000 });
  assert.equal(await phone.evaluate(() => window.mqchatWidget.state.visitor),
    await laptop.evaluate(() => window.mqchatWidget.state.visitor), 'one visitor on both devices');
  await laptop.getByTestId('mqchat-end').click();
  await laptop.getByTestId('mqchat-rating').waitFor({ timeout: 15000 });
  const tablet = await device();
  await tablet.getByTestId('mqchat-earlier-toggle').filter({ hasText: 'Earlier conversations (1)' }).click({ timeout: 15000 });
  await tablet.getByTestId('mqchat-earlier-message').filter({ hasText: 'written on my laptop' }).waitFor({ timeout: 15000 });

  assert.equal(await visitor.evaluate(() => window.__pwned), undefined, 'a visitor\'s markup ran in the widget');
  assert.equal(await agent.evaluate(() => window.__pwned), undefined, 'a visitor\'s markup ran in the console');
  console.log('desk_flow: every step passed');
} catch (e) {
  await showPages(browser, shots); // what each page showed when it failed, for the person reading the log
  throw e;
} finally {
  await browser.close();
}
