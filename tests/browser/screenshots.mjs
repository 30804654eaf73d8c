// Makes the screenshots in docs/images/ from a running stack (scripts/run):
//   node tests/browser/screenshots.mjs http://127.0.0.1:8080 agent agent-pw docs/images
import { chromium } from 'playwright-core';

const [web, agentName, agentPassword, out] = process.argv.slice(2);
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--headless'] });
try {
  const visitor = await (await browser.newContext({ viewport: { width: 1100, height: 720 } })).newPage();
  const agent = await (await browser.newContext({ viewport: { width: 1280, height: 720 } })).newPage();
  await visitor.goto(web + '/index.html');
  await visitor.getByTestId('mqchat-launcher').click();
  await visitor.getByTestId('mqchat-prechat-name').fill('Carla');
  await visitor.getByTestId('mqchat-prechat-submit').click();
  await visitor.getByTestId('mqchat-input').fill('Hi! My parcel #4711 has not arrived yet.');
  await visitor.getByTestId('mqchat-send').click();
  await visitor.getByTestId('mqchat-status').filter({ hasText: 'in the queue' }).waitFor();
  await visitor.screenshot({ path: out + '/widget-queued.png' });
  const name = await visitor.evaluate(() => window.mqchatWidget.state.visitor);
  await agent.goto(web + '/console.html');
  await agent.getByTestId('login-user').fill(agentName);
  await agent.getByTestId('login-password').fill(agentPassword);
  await agent.getByTestId('login-submit').click();
  const item = agent.getByTestId('queue-item').filter({ hasText: name });
  await item.waitFor();
  await item.getByTestId('claim').click();
  await agent.getByTestId('message-body').first().waitFor();
  await agent.getByTestId('reply-input').fill('Sorry about that, Carla. It left our warehouse on Monday; let me check with the courier.');
  await agent.getByTestId('reply-send').click();
  await visitor.locator('[data-testid=mqchat-message][data-sender="' + agentName + '"]').waitFor();
  await visitor.getByTestId('mqchat-input').pressSequentially('Thank you', { delay: 40 });
  await agent.getByTestId('typing').filter({ hasText: 'is typing' }).waitFor();
  await visitor.screenshot({ path: out + '/widget.png' });
  await agent.screenshot({ path: out + '/console.png' });
} finally {
  await browser.close();
}
