// Several visitors and agents at once, in Debian's chromium (playwright-core),
// against the stack tests/integration/browser_test.cpp started:
//   - two agents race for one conversation in two consoles: one wins, the
//     other is told at once and the conversation leaves both queues;
//   - automatic assignment (desk "auto", least busy, the agent's capacity 1)
//     gives the oldest waiting conversation to the agent when capacity frees;
//   - a reply that arrives while the panel is closed lights the unread badge;
//   - the conversation goes to the other agent, who closes and reopens it,
//     then to another desk's queue;
//   - a conversation claimed while the broker cannot confirm the new
//     membership (the plugin's worker stopped): the console subscribes
//     again when refused, and live messages reach the agent;
//   - a waiting visitor's estimate follows the desk's average wait as the
//     bridge tells it (the widget does not ask);
//   - with no agent online the widget offers the offline form.
// Exits non-zero on the first failed expectation, saying which.
//
// env: MQCHAT_WEB, MQCHAT_PASSWORD_OF (a JSON object user -> password),
//      MQCHAT_PLUGIN_WORKER (the pid of the plugin's worker process),
//      MQCHAT_CONNINFO (the stack's database, for psql)
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { agentLogsIn, launch, newPage, step, visitorWrites } from './lib.mjs';

const web = process.env.MQCHAT_WEB;
const passwords = JSON.parse(process.env.MQCHAT_PASSWORD_OF);
const pluginWorker = Number(process.env.MQCHAT_PLUGIN_WORKER);
assert.ok(pluginWorker > 0, 'MQCHAT_PLUGIN_WORKER names the plugin\'s worker process');

const conninfo = process.env.MQCHAT_CONNINFO;
assert.ok(conninfo, 'MQCHAT_CONNINFO names the stack\'s database');
const sql = (statement) => execFileSync('psql', ['-X', '-v', 'ON_ERROR_STOP=1', '-c', statement, conninfo], { encoding: 'utf8' });

const browser = await launch();

async function console_(user) {
  const page = await newPage(browser, user);
  await agentLogsIn(page, web + '/console.html', user, passwords[user]);
  return page;
}

/** A visitor on `page` (a demo page of some desk) writes `text`; returns its visitor name. */
async function visit(pageName, text, name) {
  const page = await newPage(browser, 'visitor ' + name, 'phone');
  return { page, visitor: await visitorWrites(page, web + '/' + pageName, name, text) };
}

try {
  step('two agents race for one conversation: exactly one wins, the other sees it gone');
  const ann = await console_('ann');
  const andy = await console_('andy');
  const v1 = await visit('index.html', 'Race me', 'Rita');
  const itemAnn = ann.getByTestId('queue-item').filter({ hasText: v1.visitor });
  const itemAndy = andy.getByTestId('queue-item').filter({ hasText: v1.visitor });
  await itemAnn.waitFor({ timeout: 15000 });
  await itemAndy.waitFor({ timeout: 15000 });
  // Both claims at the same moment: clicked as events, without Playwright's
  // wait for a clear pointer path (a claim that wins removes the item from
  // the other console within milliseconds, before a retried click lands).
  await Promise.all([itemAnn.getByTestId('claim').dispatchEvent('click'), itemAndy.getByTestId('claim').dispatchEvent('click')]);
  const wonBy = async (page) => page.getByTestId('mine-item').filter({ hasText: v1.visitor }).count();
  await ann.waitForTimeout(1500);
  const winners = (await wonBy(ann)) + (await wonBy(andy));
  assert.equal(winners, 1, 'exactly one agent has the conversation');
  const loser = (await wonBy(ann)) ? andy : ann;
  await loser.getByTestId('connection').filter({ hasText: 'Someone else took it' }).waitFor({ timeout: 5000 });
  for (const page of [ann, andy]) await page.getByTestId('queue-item').filter({ hasText: v1.visitor }).waitFor({ state: 'detached', timeout: 5000 });
  const winner = loser === ann ? andy : ann;
  const winnerName = loser === ann ? 'andy' : 'ann';
  await v1.page.getByTestId('mqchat-agent').filter({ hasText: winnerName }).waitFor({ timeout: 15000 });

  step('a reply while the panel is closed lights the unread badge');
  await v1.page.getByTestId('mqchat-minimize').click();
  await winner.getByTestId('reply-input').fill('You won me!');
  await winner.getByTestId('reply-send').click();
  await v1.page.getByTestId('mqchat-unread').filter({ hasText: '1' }).waitFor({ timeout: 15000 });
  await v1.page.getByTestId('mqchat-launcher').click();
  await v1.page.getByTestId('mqchat-unread').waitFor({ state: 'hidden', timeout: 5000 });

  step('the winner transfers it to the other agent; the visitor sees the new name');
  const otherName = winnerName === 'ann' ? 'andy' : 'ann';
  await winner.getByTestId('transfer').locator('option', { hasText: otherName }).waitFor({ state: 'attached', timeout: 10000 });
  await winner.getByTestId('transfer').selectOption('agent:' + otherName);
  await loser.getByTestId('mine-item').filter({ hasText: v1.visitor }).waitFor({ timeout: 15000 });
  await v1.page.getByTestId('mqchat-agent').filter({ hasText: otherName }).waitFor({ timeout: 15000 });
  await winner.getByTestId('mine-item').filter({ hasText: v1.visitor }).waitFor({ state: 'detached', timeout: 15000 });

  step('the new agent closes it, then reopens it: the visitor is back in the chat');
  await loser.getByTestId('mine-item').filter({ hasText: v1.visitor }).click();
  await loser.getByTestId('message-body').filter({ hasText: 'Race me' }).waitFor({ timeout: 15000 });
  await loser.getByTestId('close').click();
  await v1.page.getByTestId('mqchat-rating').waitFor({ timeout: 15000 });
  assert.equal(await v1.page.getByTestId('mqchat-input').isVisible(), false, 'no composer once closed');
  await loser.getByTestId('reopen').click();
  await v1.page.getByTestId('mqchat-rating').waitFor({ state: 'detached', timeout: 15000 });
  await v1.page.getByTestId('mqchat-input').waitFor({ state: 'visible', timeout: 5000 });
  await loser.getByTestId('reply-input').waitFor({ state: 'visible', timeout: 15000 });
  await loser.getByTestId('reply-input').fill('Back again');
  await loser.getByTestId('reply-send').click();
  await v1.page.getByTestId('mqchat-message-body').filter({ hasText: 'Back again' }).waitFor({ timeout: 15000 });
  await v1.page.getByTestId('mqchat-agent').filter({ hasText: otherName }).waitFor({ timeout: 5000 });

  step('a transfer to another desk: the visitor waits in that desk\'s queue');
  await loser.getByTestId('transfer').locator('option[value="desk:night"]').waitFor({ state: 'attached', timeout: 10000 });
  await loser.getByTestId('transfer').selectOption('desk:night');
  await loser.getByTestId('mine-item').filter({ hasText: v1.visitor }).waitFor({ state: 'detached', timeout: 15000 });
  await v1.page.getByTestId('mqchat-status').filter({ hasText: 'number 1 in the queue' }).waitFor({ timeout: 15000 });
  assert.equal(await v1.page.getByTestId('mqchat-agent').textContent(), '', 'nobody has it at the new desk yet');

  step('automatic assignment: capacity 1, and the oldest waiting goes first when it frees');
  const pia = await console_('pia');
  const a1 = await visit('auto.html', 'first in line', 'Anna');
  await a1.page.getByTestId('mqchat-agent').filter({ hasText: 'pia' }).waitFor({ timeout: 15000 });
  const a2 = await visit('auto.html', 'second in line', 'Bert');
  const a3 = await visit('auto.html', 'third in line', 'Cleo');
  await a2.page.getByTestId('mqchat-status').filter({ hasText: 'number 1 in the queue' }).waitFor({ timeout: 15000 });
  await a3.page.getByTestId('mqchat-status').filter({ hasText: 'number 2 in the queue' }).waitFor({ timeout: 15000 });
  await pia.getByTestId('mine-item').filter({ hasText: a1.visitor }).click();
  await pia.getByTestId('message-body').filter({ hasText: 'first in line' }).waitFor({ timeout: 15000 });
  await pia.getByTestId('close').click();
  await a2.page.getByTestId('mqchat-agent').filter({ hasText: 'pia' }).waitFor({ timeout: 15000 });
  assert.equal(await a3.page.getByTestId('mqchat-agent').textContent(), '', 'the younger conversation waits');
  // The bridge tells a waiting visitor each new place (desk.position) within a routing round: well
  // inside 5 s, where the widget's own 10-s poll would be too late.
  await a3.page.getByTestId('mqchat-status').filter({ hasText: 'number 1 in the queue' }).waitFor({ timeout: 5000 });

  step('the estimate follows the desk\'s average wait, told by the bridge (desk.position): the widget does not ask');
  // As if the desk's assignments so far had each waited two hours longer: the
  // average moves by far more than a tenth, and the bridge tells a3 at once.
  sql("UPDATE support_conversations s SET queued_at = s.queued_at - interval '2 hours' FROM desks d"
    + " WHERE d.id = s.desk_id AND d.name = 'auto' AND s.assigned_at IS NOT NULL");
  await a3.page.getByTestId('mqchat-status').filter({ hasText: /number 1 in the queue · about 12\d min/ }).waitFor({ timeout: 5000 });

  step('claimed while the broker cannot confirm the new membership: the console subscribes again and shows what comes live');
  // The plugin's worker process, which hears of the new membership and answers lookups, is stopped:
  // the broker refuses ann's subscription to the conversation she claims (come back later) until it runs again.
  const v4 = await visit('index.html', 'Anyone there?', 'Lena');
  const item4 = ann.getByTestId('queue-item').filter({ hasText: v4.visitor });
  await item4.waitFor({ timeout: 15000 });
  process.kill(pluginWorker, 'SIGSTOP');
  try {
    await item4.getByTestId('claim').click();
    await ann.getByTestId('mine-item').filter({ hasText: v4.visitor }).waitFor({ timeout: 15000 });
    await ann.waitForTimeout(1500); // refused a few times meanwhile
  } finally {
    process.kill(pluginWorker, 'SIGCONT');
  }
  await ann.getByTestId('message-body').filter({ hasText: 'Anyone there?' }).waitFor({ timeout: 15000 });
  await v4.page.getByTestId('mqchat-agent').filter({ hasText: 'ann' }).waitFor({ timeout: 15000 });
  await v4.page.getByTestId('mqchat-input').fill('Can you hear me now?');
  await v4.page.getByTestId('mqchat-send').click();
  await ann.getByTestId('message-body').filter({ hasText: 'Can you hear me now?' }).waitFor({ timeout: 15000 });
  assert.equal(await ann.getByTestId('message').count(), 2, 'each message once');

  step('no agent online: the offline form, and its message goes to the desk');
  const night = await (await browser.newContext()).newPage();
  await night.goto(web + '/night.html');
  await night.getByTestId('mqchat-launcher').click();
  await night.getByTestId('mqchat-offline-form').waitFor({ timeout: 15000 });
  await night.getByTestId('mqchat-offline-name').fill('Olga <b>O</b>');
  await night.getByTestId('mqchat-offline-email').fill('olga@example.com');
  await night.getByTestId('mqchat-offline-body').fill('Please call me back tomorrow.');
  await night.getByTestId('mqchat-offline-submit').click();
  await night.getByTestId('mqchat-offline-sent').waitFor({ timeout: 15000 });

  console.log('desk_routing: every step passed');
} catch (e) {
  for (const ctx of browser.contexts())
    for (const page of ctx.pages())
      console.log('--- ' + page.url() + ' at the failure:\n' + (await page.locator('body').innerText().catch(() => '?')).slice(0, 2000));
  throw e;
} finally {
  await browser.close();
}
