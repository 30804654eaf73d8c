// Attachments in the widget and the console, in Debian's chromium
// (playwright-core), against the stack tests/integration/browser_test.cpp
// started with the media service: a visitor sends a photo with the attach
// button and the agent sees its signed thumbnail; a PDF with a hostile name
// sent from the keyboard shows as text in both; the agent sends an image
// back; uploads the server refuses show why and send nothing; a reload shows
// every attachment again, its URLs asked for in one request; once closed,
// the earlier conversation lists them by name. Exits non-zero
// on the first failed expectation, saying which.
//
// env: MQCHAT_WEB, MQCHAT_AGENT / MQCHAT_AGENT_PASSWORD, MQCHAT_MEDIA (the
//      media service's public base URL, as the bridge's media_base_url),
//      MQCHAT_MEDIA_SECRET (the URL secret, to check the signatures),
//      MQCHAT_SHOTS (optional: a directory for screenshots)
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { crc32, deflateSync } from 'node:zlib';
import { agentLogsIn, claim, launch, newPage, showPages, step, visitorWrites } from './lib.mjs';

const web = process.env.MQCHAT_WEB;
const agentName = process.env.MQCHAT_AGENT;
const agentPassword = process.env.MQCHAT_AGENT_PASSWORD;
const mediaBase = process.env.MQCHAT_MEDIA.replace(/\/$/, '');
const secret = process.env.MQCHAT_MEDIA_SECRET;
const shots = process.env.MQCHAT_SHOTS || '';
const hostileName = '<img src=x onerror=alert(1)>.pdf';

/** A real PNG of w×h pixels (an RGB gradient), made here with zlib. */
function png(w, h) {
  const rows = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) rows.set([(x * 255) / w, (y * 255) / h, 160], y * (w * 3 + 1) + 1 + x * 3);
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc32(Buffer.concat([Buffer.from(type), data])));
    return Buffer.concat([len, Buffer.from(type), data, sum]);
  };
  const head = Buffer.alloc(13);
  head.writeUInt32BE(w, 0);
  head.writeUInt32BE(h, 4);
  head.set([8, 2, 0, 0, 0], 8); // 8 bits, RGB
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', head),
    chunk('IDAT', deflateSync(rows)), chunk('IEND', Buffer.alloc(0))]);
}

/** A small valid PDF: one empty page, its cross-reference table with true offsets. */
function pdf() {
  const objects = ['<< /Type /Catalog /Pages 2 0 R >>', '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>'];
  let out = '%PDF-1.4\n';
  const offsets = objects.map((o, i) => { const at = out.length; out += (i + 1) + ' 0 obj\n' + o + '\nendobj\n'; return at; });
  const xref = out.length;
  out += 'xref\n0 ' + (objects.length + 1) + '\n0000000000 65535 f \n' +
    offsets.map((o) => String(o).padStart(10, '0') + ' 00000 n \n').join('') +
    'trailer\n<< /Size ' + (objects.length + 1) + ' /Root 1 0 R >>\nstartxref\n' + xref + '\n%%EOF\n';
  return Buffer.from(out);
}

/** A URL the bridge signed for `purpose` ("media" or "thumb"), not expired; returns its media id. */
function assertSigned(url, purpose) {
  const m = /^(.*)\/media\/([0-9a-f]{32})(\/thumb)?\?exp=(\d+)&sig=([0-9a-f]{64})$/.exec(url || '');
  assert.ok(m, 'a signed media URL: ' + url);
  assert.equal(m[1], mediaBase);
  assert.equal(m[3] === '/thumb', purpose === 'thumb', purpose + ' URL: ' + url);
  assert.equal(m[5], createHmac('sha256', secret).update(purpose + '\n' + m[2] + '\n' + m[4]).digest('hex'), 'signature of ' + url);
  assert.ok(Number(m[4]) * 1000 > Date.now(), 'not expired: ' + url);
  return m[2];
}

/** A test id on `page`: the widget's all start with "mqchat-" (they share the host page), the console's do not. */
const widgets = new WeakSet();
function tid(page, name) {
  return (widgets.has(page) ? 'mqchat-' : '') + name;
}

/** Picks `file` through the attach button, with a click or from the keyboard. */
async function attach(page, file, how = 'click') {
  const chooser = page.waitForEvent('filechooser', { timeout: 10000 });
  if (how === 'keyboard') {
    await page.getByTestId(tid(page, 'attach')).focus();
    await page.keyboard.press('Enter');
  } else {
    await page.getByTestId(tid(page, 'attach')).click();
  }
  await (await chooser).setFiles(file);
}

/** Waits until an <img> has loaded (decoded pixels); returns its src. */
async function loaded(page, img) {
  await img.waitFor({ timeout: 20000 });
  await page.waitForFunction((e) => e.complete && e.naturalWidth > 0, await img.elementHandle(), { timeout: 20000 });
  return img.getAttribute('src');
}

const browser = await launch();
let dialogs = 0;
try {
  const visitor = await newPage(browser, 'visitor', 'phone');
  const agent = await newPage(browser, 'agent');
  widgets.add(visitor);
  for (const page of [visitor, agent]) page.on('dialog', (d) => { dialogs++; d.dismiss().catch(() => {}); });

  step('a visitor writes, an agent claims it');
  const visitorName = await visitorWrites(visitor, web + '/index.html', 'Mia', 'My mug arrived broken');
  await agentLogsIn(agent, web + '/console.html', agentName, agentPassword);
  await claim(agent, visitorName);
  await agent.getByTestId('message-body').filter({ hasText: 'arrived broken' }).waitFor({ timeout: 15000 });

  step('the visitor sends a photo with the attach button; it goes as a message, acked');
  assert.equal(await visitor.getByRole('button', { name: 'Attach a file' }).count(), 1, 'the attach button has a label');
  // The picker offers what the server takes (desk.info's attachments: the bridge's media_types).
  assert.match(await visitor.locator('input[type=file]').getAttribute('accept'), /^image\/jpeg,image\/png,.*application\/pdf/);
  await attach(visitor, { name: 'broken mug.png', mimeType: 'image/png', buffer: png(120, 90) });
  const myPhoto = visitor.locator('[data-testid=mqchat-message][data-sender=me]').filter({ has: visitor.getByTestId('mqchat-attachment-image') });
  await myPhoto.and(visitor.locator('[data-state=sent],[data-state=delivered],[data-state=read]')).waitFor({ timeout: 20000 });
  await loaded(visitor, myPhoto.getByTestId('mqchat-attachment-image'));

  step('the console shows its thumbnail: loaded, the signed thumb URL, sized before it loads, the name as alt');
  const thumb = agent.getByTestId('attachment-image');
  const photoId = assertSigned(await loaded(agent, thumb), 'thumb');
  assert.equal(await thumb.getAttribute('alt'), 'broken mug.png');
  assert.deepEqual([await thumb.getAttribute('width'), await thumb.getAttribute('height')], ['120', '90']);
  const full = agent.locator('a', { has: thumb });
  assert.equal(assertSigned(await full.getAttribute('href'), 'media'), photoId);
  assert.equal(await full.getAttribute('target'), '_blank');
  assert.equal(await full.getAttribute('rel'), 'noopener');

  step('clicking the thumbnail opens the full image in a new tab, which cannot reach the console');
  const tabOpened = agent.context().waitForEvent('page', { timeout: 10000 });
  await thumb.click();
  const tab = await tabOpened;
  await tab.waitForLoadState();
  assert.equal(tab.url(), await full.getAttribute('href'));
  assert.equal(await tab.evaluate(() => window.opener), null);
  await tab.close();

  step('a PDF with a hostile name, attached from the keyboard: both UIs show the name as text');
  const doc = pdf();
  await attach(visitor, { name: hostileName, mimeType: 'application/pdf', buffer: doc }, 'keyboard');
  for (const [page, list] of [[visitor, '[data-testid=mqchat-messages]'], [agent, '[data-testid=messages]']]) {
    const link = page.locator(list).getByTestId(tid(page, 'attachment-file'));
    await link.waitFor({ timeout: 20000 });
    assert.equal(await link.textContent(), hostileName);
    await page.waitForFunction((a) => a.hasAttribute('href'), await link.elementHandle(), { timeout: 15000 });
    assertSigned(await link.getAttribute('href'), 'media');
    assert.equal(await link.getAttribute('rel'), 'noopener');
    assert.equal(await link.locator('..').textContent(), hostileName + ' · ' + doc.length + ' B', 'the name and the size');
    assert.equal(await page.locator(list + ' img:not([data-testid=' + tid(page, 'attachment-image') + '])').count(), 0, 'markup in a name became an element');
  }

  step('the agent sends an image from the console; the visitor sees its thumbnail');
  await attach(agent, { name: 'replacement.png', mimeType: 'image/png', buffer: png(200, 100) });
  const theirs = visitor.locator('[data-testid=mqchat-message][data-sender="' + agentName + '"]').getByTestId('mqchat-attachment-image');
  assertSigned(await loaded(visitor, theirs), 'thumb');
  assert.equal(await theirs.getAttribute('alt'), 'replacement.png');
  await agent.getByTestId('attach-status').filter({ hasText: /^$/ }).waitFor({ state: 'attached', timeout: 15000 }); // acked

  step('uploads the server refuses show why in the widget, and send nothing');
  // Text in a file named .png: the media service finds the bytes are not an image.
  await attach(visitor, { name: 'not really.png', mimeType: 'image/png', buffer: Buffer.from('just some text, not a picture\n') });
  const failed = visitor.locator('[data-testid=mqchat-message][data-state^=failed]');
  await failed.first().waitFor({ timeout: 20000 });
  const mismatch = await failed.first().getByTestId('mqchat-message-state').textContent();
  assert.match(mismatch, /^failed: \S/);
  assert.equal(await failed.first().locator('.mqw-att').textContent(), 'not really.png');
  // A type the desk does not take: the bridge refuses the grant.
  await attach(visitor, { name: 'setup.exe', mimeType: 'application/x-msdownload', buffer: Buffer.from('MZ not a program') });
  await failed.nth(1).waitFor({ timeout: 20000 });
  assert.equal(await failed.nth(1).getByTestId('mqchat-message-state').textContent(),
    'failed: files of type application/x-msdownload are not taken here');
  console.log('refusals shown: ' + JSON.stringify([mismatch, await failed.nth(1).getByTestId('mqchat-message-state').textContent()]));
  await visitor.waitForTimeout(1000);
  assert.equal(await agent.getByTestId('message').count(), 4, 'the console got nothing of the refused uploads');

  step('a reload shows every attachment again from history, its URLs asked for at once');
  const urlRequests = [];
  visitor.on('websocket', (ws) => ws.on('framesent', (f) => {
    const text = Buffer.isBuffer(f.payload) ? f.payload.toString('latin1') : String(f.payload);
    if (text.includes('chat/rpc/media.url')) urlRequests.push(text);
  }));
  await visitor.reload();
  await visitor.getByTestId('mqchat-launcher').click();
  await visitor.getByTestId('mqchat-attachment-file').waitFor({ timeout: 20000 });
  for (const img of await visitor.getByTestId('mqchat-attachment-image').all()) assertSigned(await loaded(visitor, img), 'thumb');
  assert.equal(await visitor.getByTestId('mqchat-attachment-image').count(), 2);
  assert.equal(await visitor.getByTestId('mqchat-attachment-file').textContent(), hostileName);
  assert.equal(await visitor.getByTestId('mqchat-message').count(), 4, 'the refused uploads left no message');
  assert.equal(urlRequests.length, 1, 'one media.url for the page: ' + urlRequests.length);
  assert.equal((urlRequests[0].match(/[0-9a-f]{32}/g) || []).length, 3, 'the three attachments in it');
  if (shots) {
    await visitor.screenshot({ path: shots + '/widget-media.png' });
    await agent.screenshot({ path: shots + '/console-media.png' });
  }

  step('closed, the conversation is an earlier one: its attachments by name, as text');
  await agent.getByTestId('close').click();
  await visitor.getByTestId('mqchat-new-conversation').first().click({ timeout: 15000 });
  await visitor.getByTestId('mqchat-earlier-toggle').filter({ hasText: 'Earlier conversations (1)' }).click({ timeout: 15000 });
  const earlier = visitor.getByTestId('mqchat-earlier-message');
  await earlier.filter({ hasText: 'Attachment: replacement.png' }).waitFor({ timeout: 15000 });
  assert.equal(await earlier.count(), 4);
  assert.equal(await earlier.nth(2).locator('span').nth(1).textContent(), 'Attachment: ' + hostileName);
  assert.equal(await visitor.locator('[data-testid=mqchat-earlier] img').count(), 0);

  assert.equal(dialogs, 0, 'a file name ran as script');
  console.log('media_flow: every step passed');
} catch (e) {
  await showPages(browser, shots);
  throw e;
} finally {
  await browser.close();
}
