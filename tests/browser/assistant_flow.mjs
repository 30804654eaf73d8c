// The desk's assistant in the widget and the console, in Debian's chromium
// (playwright-core), against the stack tests/integration/browser_test.cpp
// started with mqchat-bot running (docs/assistant.md):
//   - the assistant greets and answers a question from the knowledge base;
//   - not sure, it offers the nearest questions as buttons; one click asks it;
//   - "Talk to a person": the visitor is told its place in line, the agent
//     sees the handoff card first, claims, answers; the assistant is silent;
//   - the agent hands it back and the assistant greets again;
//   - three unanswerable questions, and an angry message, hand over too;
//   - out of hours, a handoff brings the offline form.
// Exits non-zero on the first failed expectation, saying which.
//
// env: MQCHAT_WEB, MQCHAT_AGENT / MQCHAT_AGENT_PASSWORD, MQCHAT_DB (conninfo, to see what the bridge stored)
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { step } from './lib.mjs';

const web = process.env.MQCHAT_WEB;
async function agentStoredOnline(name) {
  const sql = "SELECT count(*) FROM presence p JOIN users u ON u.id = p.user_id WHERE u.name = '" + name +
    "' AND p.devices > 0 AND p.state = 'online'";
  for (let i = 0; i < 150; i++) {
    if (execFileSync('psql', [process.env.MQCHAT_DB, '-Atc', sql]).toString().trim() === '1') return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(name + ' never showed online in the database');
}

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--headless'] });
try {
  const visitor = await (await browser.newContext({ viewport: { width: 390, height: 780 } })).newPage();
  const fromAssistant = visitor.locator('[data-testid=mqchat-message][data-sender=helper] [data-testid=mqchat-message-body]');

  step('the assistant greets and answers from the knowledge base');
  await visitor.goto(web + '/help.html');
  await visitor.getByTestId('mqchat-launcher').click();
  await visitor.getByTestId('mqchat-input').fill('When will my order arrive?');
  await visitor.getByTestId('mqchat-send').click();
  await fromAssistant.filter({ hasText: "Hello! I am the shop's assistant." }).waitFor({ timeout: 15000 });
  await fromAssistant.filter({ hasText: 'Orders ship within two business days.' }).waitFor({ timeout: 15000 });
  await visitor.getByTestId('mqchat-agent').filter({ hasText: 'helper (assistant)' }).waitFor({ timeout: 5000 });
  assert.equal(await visitor.getByTestId('mqchat-offline-form').count(), 0, 'no offline form while the assistant answers');

  step('not sure: the nearest question as a button, and a click asks it');
  await visitor.getByTestId('mqchat-input').fill('my password is not working');
  await visitor.getByTestId('mqchat-send').click();
  await fromAssistant.filter({ hasText: 'I am not sure about that.' }).waitFor({ timeout: 15000 });
  const suggestion = visitor.getByTestId('mqchat-quick-reply').filter({ hasText: 'How do I reset my password?' });
  await suggestion.waitFor({ timeout: 15000 });
  await suggestion.click();
  await fromAssistant.filter({ hasText: 'Use Forgot password on the login page.' }).waitFor({ timeout: 15000 });
  await visitor.getByTestId('mqchat-quick-replies').waitFor({ state: 'hidden', timeout: 5000 });

  step('"Talk to a person": the place in line; the agent sees the card first and takes it');
  const agent = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  await agent.goto(web + '/console.html');
  await agent.getByTestId('login-user').fill(process.env.MQCHAT_AGENT);
  await agent.getByTestId('login-password').fill(process.env.MQCHAT_AGENT_PASSWORD);
  await agent.getByTestId('login-submit').click();
  await agent.getByTestId('agent-name').filter({ hasText: process.env.MQCHAT_AGENT }).waitFor({ timeout: 15000 });
  // The desk counts an agent as online once the bridge has stored its presence
  // (a moment after the login; longer on a loaded machine). Before that, a
  // handoff rightly offers the offline form.
  await agentStoredOnline(process.env.MQCHAT_AGENT);
  assert.equal(await agent.getByTestId('queue-item').count(), 0, 'the assistant\'s conversation is in nobody\'s queue');
  await visitor.getByTestId('mqchat-talk-to-person').click();
  await visitor.getByTestId('mqchat-status').filter({ hasText: 'Connecting you with a person — you are number 1' }).waitFor({ timeout: 15000 });
  await visitor.getByTestId('mqchat-talk-to-person').waitFor({ state: 'hidden', timeout: 5000 });
  const item = agent.getByTestId('queue-item').first();
  await item.getByTestId('queue-handoff').filter({ hasText: 'Talk to a person' }).waitFor({ timeout: 15000 });
  await item.getByTestId('claim').click();
  await agent.getByTestId('handoff-rule').filter({ hasText: 'request' }).waitFor({ timeout: 15000 });
  await agent.getByTestId('handoff-summary-item').filter({ hasText: 'my password is not working' }).waitFor({ timeout: 5000 });
  await agent.getByTestId('message-body').filter({ hasText: 'When will my order arrive?' }).waitFor({ timeout: 15000 });
  await agent.getByTestId('reply-input').fill('Hi, I am Ann. Let me look at your account.');
  await agent.getByTestId('reply-send').click();
  await visitor.getByTestId('mqchat-message-body').filter({ hasText: 'Hi, I am Ann.' }).waitFor({ timeout: 15000 });
  await visitor.getByTestId('mqchat-agent').filter({ hasText: 'ann is here to help' }).waitFor({ timeout: 5000 });

  step('after the handoff the assistant says nothing');
  const before = await fromAssistant.count();
  await visitor.getByTestId('mqchat-input').fill('thanks, how do I reset my password?');
  await visitor.getByTestId('mqchat-send').click();
  await agent.getByTestId('message-body').filter({ hasText: 'thanks, how do I reset' }).waitFor({ timeout: 15000 });
  await visitor.waitForTimeout(2000);
  assert.equal(await fromAssistant.count(), before, 'the assistant spoke after the handoff');

  step('the agent hands it back; the assistant greets again');
  await agent.getByTestId('to-bot').click();
  await fromAssistant.filter({ hasText: "I'm back. How can I help?" }).waitFor({ timeout: 15000 });
  await visitor.getByTestId('mqchat-agent').filter({ hasText: 'helper (assistant)' }).waitFor({ timeout: 5000 });

  step('three questions it cannot answer, and an angry one: each hands over, and the console says why');
  for (const [questions, why] of [[['Do you sell purple giraffes?', 'What is the airspeed of a swallow?', 'Can I pay with seashells?'], 'could not answer'],
                                  [['This is the worst, most useless shop ever. I HATE it!!!'], 'upset']]) {
    const page = await (await browser.newContext({ viewport: { width: 390, height: 780 } })).newPage();
    await page.goto(web + '/help.html');
    await page.getByTestId('mqchat-launcher').click();
    for (const [i, q] of questions.entries()) {
      await page.getByTestId('mqchat-input').fill(q);
      await page.getByTestId('mqchat-send').click();
      // The greeting, then one reply per question (the last one: the handoff).
      await page.locator('[data-testid=mqchat-message][data-sender=helper]').nth(i + 1).waitFor({ timeout: 15000 });
    }
    await page.getByTestId('mqchat-status').filter({ hasText: 'Connecting you with a person' }).waitFor({ timeout: 15000 });
    await agent.getByTestId('queue-handoff').filter({ hasText: why }).waitFor({ timeout: 15000 });
  }

  step('out of hours: a handoff brings the offline form');
  const late = await (await browser.newContext({ viewport: { width: 390, height: 780 } })).newPage();
  await late.goto(web + '/late.html');
  await late.getByTestId('mqchat-launcher').click();
  await late.getByTestId('mqchat-input').fill('I want a human');
  await late.getByTestId('mqchat-send').click();
  await late.getByTestId('mqchat-offline-form').waitFor({ timeout: 15000 });
  await late.getByTestId('mqchat-status').filter({ hasText: 'closed now' }).waitFor({ timeout: 5000 });
  // The widget asks for its place in line every 10 s: that must not write over why nobody comes.
  await late.waitForTimeout(11000);
  assert.match(await late.getByTestId('mqchat-status').textContent(), /closed now/);

  console.log('assistant_flow: every step passed');
} catch (e) {
  for (const ctx of browser.contexts())
    for (const page of ctx.pages())
      console.log('--- ' + page.url() + ' at the failure:\n' + (await page.locator('body').innerText().catch(() => '?')).slice(0, 2500));
  throw e;
} finally {
  await browser.close();
}
