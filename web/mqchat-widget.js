/*
 * mqchat support widget: one <script> tag on any page (docs/widget.md).
 *
 *   <script src="https://chat.example.com/mqchat-widget.js"
 *           data-site-key="eyJ…" data-desk="billing" data-title="Billing questions"></script>
 *
 * It speaks MQTT over WebSocket to the mqchat broker that served it (MQTT.js,
 * loaded from the same place), no other server: a knock with the site key
 * asks desk.visit for an identity and a guest token, then the visitor chats
 * in its support conversation (docs/desks.md, "Visitors from a website").
 *
 * Attachments: media.upload grants an upload URL of the media service, the
 * bytes go there by HTTP PUT, then the message names the upload; media.url
 * signs the URLs that show it (docs/widget.md, "Attachments").
 *
 * Everything a person or the server wrote is shown with textContent, never
 * as HTML. Controls carry data-testid attributes: the browser tests' contract
 * (docs/widget.md lists them).
 */
(function () {
  'use strict';
  const script = document.currentScript;
  if (!script || window.mqchatWidget) return;
  const cfg = {
    siteKey: script.dataset.siteKey || '',
    desk: script.dataset.desk || '',
    title: script.dataset.title || 'Chat with us',
    server: script.dataset.server || '',
    // The pre-chat form: the page's data-prechat ("name,email"), else the desk's (desk.info's prechat).
    prechat: script.dataset.prechat === undefined ? null : script.dataset.prechat.split(',').map((s) => s.trim())
      .filter(Boolean).map((name) => ({ name, type: name === 'email' ? 'email' : 'text', required: false })),
    identity: script.dataset.identityId
      ? { id: script.dataset.identityId, signature: script.dataset.identitySignature || '',
          name: script.dataset.identityName, email: script.dataset.identityEmail }
      : null,
  };
  const base = new URL('.', script.src);
  if (!cfg.server) cfg.server = (base.protocol === 'https:' ? 'wss://' : 'ws://') + base.host + '/mqtt';

  // ---------------------------------------------------------------- storage
  // One visitor per desk (and per verified id) in this browser: a reload or
  // another tab resumes the same conversation.
  const storeKey = 'mqchat:' + cfg.desk + (cfg.identity ? ':' + cfg.identity.id : '');
  function load() {
    try { return JSON.parse(localStorage.getItem(storeKey)) || {}; } catch (e) { return {}; }
  }
  function save() {
    localStorage.setItem(storeKey, JSON.stringify({
      visitor: st.visitor, secret: st.secret, token: st.token, tokenExp: st.tokenExp, conv: st.conv,
      agent: st.agent, pending: st.pending, closed: st.closed, withAssistant: st.withAssistant,
      attachments: st.attachments,
    }));
  }
  function random(n) {
    const a = new Uint8Array(n);
    crypto.getRandomValues(a);
    const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';
    return Array.from(a, (b) => abc[b & 63]).join('');
  }

  const saved = load();
  const st = {
    visitor: saved.visitor || (cfg.identity ? '' : 'v-' + random(22)),
    secret: saved.secret || random(32),
    token: saved.token || '', tokenExp: saved.tokenExp || 0, conv: saved.conv || 0,
    agent: saved.agent || '', pending: saved.pending || [], closed: !!saved.closed,
    client: null, open: false, unread: 0, lastSeq: 0, agentRead: 0, agentDelivered: 0,
    messages: new Map(), // id or "seq:N" → element
    typingTimer: 0, typingSentAt: 0, typingOff: 0, pollTimer: 0, position: 0, waitMs: null,
    earlier: [], // the visitor's closed conversations at the desk, newest first (desk.visit)
    withAssistant: !!saved.withAssistant, // the desk's assistant has the conversation (status bot)
    // desk.info's attachments: {max_bytes, types}, null when the server takes none, undefined: not known yet.
    attachments: saved.attachments,
  };
  const tabId = sessionStorage.getItem(storeKey + ':tab') || random(6);
  sessionStorage.setItem(storeKey + ':tab', tabId);

  // ---------------------------------------------------------------- view
  const css = `
.mqw-launcher{position:fixed;right:20px;bottom:20px;width:56px;height:56px;border-radius:50%;border:0;
 background:#2456d6;color:#fff;font:600 24px/56px system-ui,sans-serif;cursor:pointer;box-shadow:0 4px 14px #0004;z-index:2147483000}
.mqw-launcher:focus-visible,.mqw-panel button:focus-visible,.mqw-panel textarea:focus-visible,.mqw-panel input:focus-visible{outline:3px solid #f5a623;outline-offset:2px}
.mqw-badge{position:absolute;top:-4px;right:-4px;min-width:20px;height:20px;border-radius:10px;background:#d62424;
 font:700 12px/20px system-ui,sans-serif;padding:0 5px;box-sizing:border-box}
.mqw-panel{position:fixed;right:20px;bottom:88px;width:360px;max-width:calc(100vw - 24px);height:520px;
 max-height:calc(100vh - 110px);display:flex;flex-direction:column;background:#fff;color:#1b1b1f;border-radius:12px;
 box-shadow:0 8px 30px #0005;font:14px/1.4 system-ui,sans-serif;z-index:2147483000;overflow:hidden}
.mqw-panel[hidden],.mqw-panel [hidden],.mqw-badge[hidden]{display:none}
@media (max-width:480px){.mqw-panel{right:0;bottom:0;width:100vw;max-width:100vw;height:100%;max-height:100%;border-radius:0}
 .mqw-launcher[aria-expanded=true]{display:none}}
.mqw-head{background:#2456d6;color:#fff;padding:12px 14px;display:flex;align-items:center;gap:8px}
.mqw-head h2{font-size:16px;margin:0;flex:1}
.mqw-head button{background:none;border:0;color:#fff;font-size:18px;cursor:pointer}
.mqw-status{padding:6px 14px;background:#eef2fd;font-size:13px;min-height:18px}
.mqw-list{flex:1;overflow-y:auto;padding:10px 12px;margin:0;list-style:none}
.mqw-earlier-bar{padding:4px 14px;border:0;border-bottom:1px solid #e4e6ee;background:#fafbff;color:#2456d6;font:inherit;font-size:13px;text-align:left;cursor:pointer}
.mqw-replies{display:flex;flex-wrap:wrap;gap:6px;padding:4px 12px}
.mqw-replies button{font:inherit;font-size:13px;border:1px solid #2456d6;color:#2456d6;background:#fff;border-radius:14px;padding:4px 10px;cursor:pointer}
.mqw-person{margin:0 12px 6px;font:inherit;font-size:13px;border:0;background:none;color:#2456d6;text-decoration:underline;cursor:pointer;align-self:flex-start}
.mqw-earlier-head{margin:12px 0 4px;font-size:12px;color:#555;text-align:center}
.mqw-msg{margin:6px 0;max-width:85%;padding:8px 10px;border-radius:10px;background:#f0f0f3;white-space:pre-wrap;overflow-wrap:anywhere}
.mqw-msg.mine{margin-left:auto;background:#dbe5ff}
.mqw-who{display:block;font-size:11px;color:#555}
.mqw-state{display:block;font-size:11px;color:#555;text-align:right}
.mqw-typing{padding:0 14px;font-size:12px;color:#555;min-height:16px}
.mqw-compose{display:flex;gap:6px;padding:8px;border-top:1px solid #ddd}
.mqw-attach{background:none;border:1px solid #bbb;border-radius:6px;color:#2456d6;cursor:pointer;padding:0 8px}
.mqw-att{display:block;margin:2px 0}.mqw-att img{display:block;max-width:100%;height:auto;border-radius:6px;background:#e4e6ee}
.mqw-body:empty{display:none}
.mqw-compose textarea{flex:1;resize:none;height:40px;font:inherit;padding:6px;border:1px solid #bbb;border-radius:6px}
.mqw-panel button.mqw-primary{background:#2456d6;color:#fff;border:0;border-radius:6px;padding:6px 12px;cursor:pointer;font:inherit}
.mqw-form{padding:12px 14px;display:flex;flex-direction:column;gap:8px;overflow-y:auto}
.mqw-form label{display:flex;flex-direction:column;font-size:13px;gap:2px}
.mqw-form input,.mqw-form textarea{font:inherit;padding:6px;border:1px solid #bbb;border-radius:6px}
.mqw-stars{display:flex;gap:4px}.mqw-stars button{flex:1;padding:6px;border:1px solid #bbb;background:#fff;border-radius:6px;cursor:pointer}
.mqw-stars button[aria-pressed=true]{background:#f5a623;color:#000}
.mqw-note{font-size:13px;color:#333}`;
  const style = document.createElement('style');
  style.textContent = css;
  document.head.appendChild(style);

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const k of kids) if (k) e.appendChild(k);
    return e;
  }

  /** A speech bubble drawn in SVG (no emoji font needed). */
  function bubbleIcon() {
    const ns = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('width', '26');
    svg.setAttribute('height', '26');
    svg.setAttribute('aria-hidden', 'true');
    svg.style.verticalAlign = 'middle';
    const path = document.createElementNS(ns, 'path');
    path.setAttribute('d', 'M4 4h16a2 2 0 0 1 2 2v9a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z');
    path.setAttribute('fill', 'currentColor');
    svg.appendChild(path);
    return svg;
  }
  /** A paper clip, for the attach button. */
  function clipIcon() {
    const svg = bubbleIcon();
    svg.setAttribute('width', '20');
    svg.setAttribute('height', '20');
    svg.firstChild.setAttribute('d', 'M16.5 6.5 8.4 14.6a1.5 1.5 0 0 0 2.1 2.1l8-8a3.5 3.5 0 0 0-5-5l-8.3 8.3a5.5 5.5 0 0 0 7.8 7.8l7.1-7.1');
    svg.firstChild.setAttribute('fill', 'none');
    svg.firstChild.setAttribute('stroke', 'currentColor');
    svg.firstChild.setAttribute('stroke-width', '2');
    return svg;
  }
  const badge = el('span', { class: 'mqw-badge', 'data-testid': 'mqchat-unread', 'aria-hidden': 'true' });
  badge.hidden = true;
  const launcher = el('button', { class: 'mqw-launcher', type: 'button', 'data-testid': 'mqchat-launcher',
    'aria-label': 'Open chat: ' + cfg.title, 'aria-expanded': 'false', 'aria-controls': 'mqchat-panel',
    onclick: () => toggle() }, bubbleIcon(), badge);
  const title = el('h2', { id: 'mqchat-title', text: cfg.title });
  const agentLine = el('span', { 'data-testid': 'mqchat-agent', 'aria-live': 'polite' });
  const status = el('div', { class: 'mqw-status', 'data-testid': 'mqchat-status', role: 'status', 'aria-live': 'polite' });
  const list = el('ol', { class: 'mqw-list', 'data-testid': 'mqchat-messages', 'aria-label': 'Messages',
    'aria-live': 'polite', tabindex: '0' });
  // Earlier conversations (a returning visitor's, on any device when verified):
  // shown read-only in place of the current one.
  const earlierBar = el('button', { type: 'button', class: 'mqw-earlier-bar', 'data-testid': 'mqchat-earlier-toggle',
    'aria-expanded': 'false', onclick: () => toggleEarlier() });
  earlierBar.hidden = true;
  const earlierList = el('ol', { class: 'mqw-list', 'data-testid': 'mqchat-earlier', 'aria-label': 'Earlier conversations' });
  earlierList.hidden = true;
  // The assistant's suggestions (a message of type quick_replies) and the way to a person.
  const replies = el('div', { class: 'mqw-replies', 'data-testid': 'mqchat-quick-replies', role: 'group',
    'aria-label': 'Suggested questions' });
  replies.hidden = true;
  const personButton = el('button', { type: 'button', class: 'mqw-person', 'data-testid': 'mqchat-talk-to-person',
    text: 'Talk to a person', onclick: () => askForPerson() });
  personButton.hidden = true;
  const typingLine = el('div', { class: 'mqw-typing', 'data-testid': 'mqchat-typing', 'aria-live': 'polite' });
  const input = el('textarea', { 'data-testid': 'mqchat-input', 'aria-label': 'Your message', placeholder: 'Write a message…',
    maxlength: '4000' });
  const sendButton = el('button', { class: 'mqw-primary', type: 'button', 'data-testid': 'mqchat-send', text: 'Send' });
  const endButton = el('button', { type: 'button', 'data-testid': 'mqchat-end', 'aria-label': 'End the conversation',
    title: 'End the conversation', text: 'End' });
  // Attachments: a real button opens the (hidden) file picker.
  const fileInput = el('input', { type: 'file', tabindex: '-1', 'aria-hidden': 'true' });
  fileInput.hidden = true;
  const attachButton = el('button', { class: 'mqw-attach', type: 'button', 'data-testid': 'mqchat-attach',
    'aria-label': 'Attach a file', title: 'Attach a file', onclick: () => fileInput.click() }, clipIcon());
  fileInput.addEventListener('change', () => { const f = fileInput.files[0]; fileInput.value = ''; attach(f); });
  /** The attach button only where the server takes files; the picker offers the desk's types. */
  function showAttach() {
    attachButton.hidden = st.attachments === null;
    if (st.attachments) fileInput.accept = st.attachments.types.join(',');
  }
  showAttach();
  const compose = el('div', { class: 'mqw-compose' }, attachButton, fileInput, input, sendButton);
  const formArea = el('div', { class: 'mqw-form', 'data-testid': 'mqchat-form-area' });
  formArea.hidden = true;
  const panel = el('div', { class: 'mqw-panel', id: 'mqchat-panel', role: 'dialog', 'aria-labelledby': 'mqchat-title',
    'data-testid': 'mqchat-panel' },
  el('div', { class: 'mqw-head' }, el('div', { style: 'flex:1' }, title, agentLine), endButton,
    el('button', { type: 'button', 'aria-label': 'Close the chat window', 'data-testid': 'mqchat-minimize',
      text: '✕', onclick: () => toggle(false) })),
  status, earlierBar, earlierList, list, replies, typingLine, personButton, formArea, compose);
  panel.hidden = true;
  document.body.appendChild(panel);
  document.body.appendChild(launcher);
  panel.addEventListener('keydown', (e) => { if (e.key === 'Escape') toggle(false); });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); send(); }
  });
  input.addEventListener('input', () => typing());
  sendButton.addEventListener('click', () => send());
  endButton.addEventListener('click', () => endConversation());

  function toggle(open) {
    st.open = open === undefined ? panel.hidden : open;
    panel.hidden = !st.open;
    launcher.setAttribute('aria-expanded', String(st.open));
    if (st.open) {
      st.unread = 0;
      showUnread();
      input.focus();
      readReceipt();
      if (!st.client) begin();
    } else {
      launcher.focus();
    }
  }
  function showUnread() {
    badge.hidden = st.unread === 0;
    badge.textContent = String(st.unread);
    launcher.setAttribute('aria-label', 'Open chat: ' + cfg.title + (st.unread ? ' (' + st.unread + ' unread)' : ''));
  }
  function setStatus(text) { status.textContent = text; }
  function showAgent() {
    agentLine.textContent = !st.agent ? '' : st.withAssistant ? st.agent + ' (assistant) is here to help' : st.agent + ' is here to help';
    personButton.hidden = !st.withAssistant || st.closed;
    if (!st.withAssistant) replies.hidden = true;
  }

  // ---------------------------------------------------------------- MQTT
  let mqttReady = null;
  function loadMqtt() {
    if (window.mqtt) return Promise.resolve(window.mqtt);
    if (!mqttReady) {
      mqttReady = new Promise((resolve, reject) => {
        const s = document.createElement('script');
        s.src = new URL('mqtt.min.js', base).href;
        s.onload = () => resolve(window.mqtt);
        s.onerror = () => reject(new Error('could not load MQTT.js'));
        document.head.appendChild(s);
      });
    }
    return mqttReady;
  }

  let corrNext = 0;
  /** A request on a connection: resolves with the reply's result, rejects with its error. */
  function request(client, inbox, method, params) {
    const corr = 'w' + (++corrNext) + '-' + random(6);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { client.removeListener('message', on); reject(new Error('no answer')); }, 15000);
      function on(topic, payload) {
        if (topic !== inbox) return;
        let m;
        try { m = JSON.parse(payload.toString()); } catch (e) { return; }
        if (m.corr !== corr) return;
        clearTimeout(timer);
        client.removeListener('message', on);
        if (m.error) reject(Object.assign(new Error(m.error.message), { code: m.error.code }));
        else resolve(m.result);
      }
      client.on('message', on);
      client.publish('chat/rpc/' + method, JSON.stringify(Object.assign({ corr }, params)), { qos: 1 });
    });
  }

  /** desk.visit through a short-lived knock with the site key. */
  async function knock(params) {
    const mqtt = await loadMqtt();
    const name = 'k-' + random(22);
    const inbox = 'chat/user/' + name + '/inbox';
    const client = mqtt.connect(cfg.server, { username: name, password: cfg.siteKey, clientId: name,
      protocolVersion: 5, clean: true, reconnectPeriod: 0, connectTimeout: 10000 });
    try {
      await new Promise((resolve, reject) => {
        client.once('connect', resolve);
        client.once('error', reject);
        client.once('close', () => reject(new Error('the chat server closed the connection')));
      });
      await new Promise((resolve, reject) => client.subscribe(inbox, { qos: 1 }, (e) => (e ? reject(e) : resolve())));
      const who = cfg.identity ? { identity: cfg.identity } : { visitor: st.visitor, secret: st.secret };
      return await request(client, inbox, 'desk.visit', Object.assign(who, params));
    } finally {
      client.end(true);
    }
  }

  function adopt(result) {
    st.visitor = result.visitor;
    if (result.desk && result.desk.assistant) st.assistant = result.desk.assistant;
    if (result.desk && 'attachments' in result.desk) { st.attachments = result.desk.attachments; showAttach(); }
    const current = result.conversation ? result.conversation.conv : 0;
    st.earlier = (result.conversations || []).filter((c) => c.status === 'closed' && c.conv !== current);
    showEarlierBar();
    if (result.token) { st.token = result.token; st.tokenExp = result.token_expires; }
    if (result.conversation) {
      if (st.conv !== result.conversation.conv) resetConversation();
      st.conv = result.conversation.conv;
      st.closed = false;
      if (result.conversation.status === 'queued') {
        st.position = result.conversation.position || 0;
        st.waitMs = result.desk && result.desk.average_wait_ms;
      } else {
        st.position = 0;
        if (result.conversation.agent) st.agent = result.conversation.agent;
      }
      st.withAssistant = result.conversation.status === 'bot';
      showAgent();
    }
    save();
  }
  function resetConversation() {
    st.messages.clear();
    list.textContent = '';
    st.lastSeq = 0; st.agentRead = 0; st.agentDelivered = 0; st.agent = ''; st.handedOver = false;
    showAgent();
  }
  function showQueue() {
    if (st.closed) return;
    // The offline form says why nobody comes now ("We are closed now"): a later queue update
    // (catchUp's answer, the poll) must not write over it.
    if (!st.agent && formArea.querySelector('[data-testid=mqchat-offline-form]')) return;
    if (st.agent) { setStatus(''); return; }
    if (!st.position) { setStatus('Waiting for an agent…'); return; }
    let text = (st.handedOver ? 'Connecting you with a person — you are number ' : 'You are number ') + st.position + ' in the queue';
    if (st.waitMs) text += ' · about ' + Math.max(1, Math.round((st.waitMs * st.position) / 60000)) + ' min';
    setStatus(text);
  }

  /** Opens the chat: resume with a saved token, or ask the desk. */
  async function begin() {
    if (st.conv && st.token && st.tokenExp * 1000 > Date.now() + 60000 && !st.closed) return connect();
    setStatus('Connecting…');
    try {
      const r = await knock({ start: false });
      adopt(r);
      if (r.conversation && r.token) return connect();
      const d = r.desk;
      // A desk with an assistant answers at any hour; the offline form comes after a handoff, if need be.
      if ((!d.open || d.agents_online === 0) && r.offline_form && !d.assistant) return offlineForm(d);
      setStatus(d.assistant || (d.open && d.agents_online) ? 'Ask us anything.' : d.open ? 'Write to us; an agent will answer.' : 'We are closed now.');
      if (cfg.prechat === null) cfg.prechat = d.prechat || [];
      if (cfg.prechat.length) prechatForm();
    } catch (e) {
      setStatus('The chat is unavailable: ' + e.message);
    }
  }

  // One start at a time: a message written while the pre-chat form's start is
  // still on its way waits for that start instead of knocking again (a second
  // knock would make a second visitor and conversation, and the late answer
  // would wipe the message from the panel).
  let starting = null;
  function startConversation(details) {
    if (!starting) {
      starting = (async () => {
        setStatus('Starting…');
        const r = await knock({ start: true, details: Object.assign({ page: location.href.slice(0, 1000) }, details || {}) });
        adopt(r);
        showQueue();
        await connect();
      })().finally(() => { starting = null; });
    }
    return starting;
  }

  function connect() {
    return loadMqtt().then((mqtt) => {
      if (st.client) st.client.end(true);
      const inbox = 'chat/user/' + st.visitor + '/inbox';
      const base = 'chat/conv/' + st.conv + '/';
      const client = mqtt.connect(cfg.server, { username: st.visitor, password: st.token,
        clientId: st.visitor + '-' + tabId, protocolVersion: 5, clean: false,
        properties: { sessionExpiryInterval: 3600 }, reconnectPeriod: 2000, connectTimeout: 10000 });
      st.client = client;
      client.on('connect', () => {
        subscribeAsMember(client, [inbox, base + 'msg', base + 'typing', base + 'receipt'], () => st.client === client)
          .then(() => catchUp());
      });
      client.on('message', (topic, payload) => {
        let m;
        try { m = JSON.parse(payload.toString()); } catch (e) { return; }
        if (topic === inbox) onInbox(m);
        else if (topic === base + 'msg') onMessage(m);
        else if (topic === base + 'typing') onTyping(m);
        else if (topic === base + 'receipt') onReceipt(m);
      });
      client.on('error', (e) => {
        // A refused login: the guest token ran out. Ask for a new one.
        if (e && (e.code === 135 || e.code === 134 || e.code === 5 || e.code === 4)) renewToken();
      });
      client.on('offline', () => setStatus('Reconnecting…'));
      client.on('reconnect', () => setStatus('Reconnecting…'));
    });
  }
  let renewing = false;
  async function renewToken() {
    if (renewing) return;
    renewing = true;
    try {
      if (st.client) { st.client.end(true); st.client = null; }
      const r = await knock({ start: false });
      adopt(r);
      if (r.token && r.conversation) await connect();
    } catch (e) {
      setStatus('The chat is unavailable: ' + e.message);
    } finally {
      renewing = false;
    }
  }

  /**
   * Subscribes to `topics`; the ones the broker refuses (SUBACK 0x87) are asked again every 200 ms for up
   * to 15 s while `wanted()` holds: a member's subscription is refused while the broker cannot yet confirm
   * a new membership in time (docs/protocol.md, "Refused subscriptions"). Resolves with those still refused.
   */
  function subscribeAsMember(client, topics, wanted) {
    const until = Date.now() + 15000;
    return new Promise((resolve) => {
      const attempt = (list) => client.subscribe(list, { qos: 1 }, (err) => {
        // MQTT.js reports a refusal as an error carrying the SUBACK's codes, in the order asked.
        const codes = err && err.packet && err.packet.granted;
        if (err && !codes) return resolve(list); // not a refusal (the connection went): the reconnect subscribes again
        const refused = codes ? list.filter((t, i) => codes[i] >= 0x80) : [];
        if (refused.length && Date.now() < until && wanted()) setTimeout(() => attempt(refused), 200);
        else resolve(refused);
      });
      attempt(topics);
    });
  }

  /** After every (re)connect: what was missed comes from history, unsent messages go again with their ids. */
  async function catchUp() {
    const inbox = 'chat/user/' + st.visitor + '/inbox';
    try {
      const r = await request(st.client, inbox, 'history',
        st.lastSeq ? { conv: st.conv, after: st.lastSeq, limit: 100 } : { conv: st.conv, limit: 50 });
      const msgs = r.messages.slice().sort((a, b) => a.seq - b.seq);
      for (const m of msgs) onMessage(m, true);
      if (!st.closed) {
        const v = await request(st.client, inbox, 'desk.visit', {});
        if (v.desk && v.desk.assistant) st.assistant = v.desk.assistant;
        if (v.conversation) {
          // The state now, whatever notices were missed while away.
          st.withAssistant = v.conversation.status === 'bot';
          if (v.conversation.status === 'closed') onClosed();
          else if (v.conversation.status === 'queued') {
            st.agent = ''; st.position = v.conversation.position; st.waitMs = v.desk.average_wait_ms;
          } else if (v.conversation.agent) {
            st.agent = v.conversation.agent; st.position = 0;
          }
          save();
          showAgent();
        }
      }
    } catch (e) { /* the next reconnect tries again */ }
    showQueue();
    for (const p of st.pending) publishSend(p);
    askUrls();
    readReceipt();
    pollQueue();
  }
  // The bridge tells the first 100 of a desk's queue each new place, with the
  // desk's average wait (desk.position); only a visitor further back asks.
  const POSITIONS_TOLD = 100;
  function pollQueue() {
    clearTimeout(st.pollTimer);
    if (st.agent || st.closed || !st.client || st.position <= POSITIONS_TOLD) return;
    st.pollTimer = setTimeout(async () => {
      try {
        const v = await request(st.client, 'chat/user/' + st.visitor + '/inbox', 'desk.visit', {});
        if (v.conversation && v.conversation.status === 'queued') {
          st.position = v.conversation.position; st.waitMs = v.desk.average_wait_ms; showQueue();
        }
      } catch (e) { /* keep polling */ }
      pollQueue();
    }, 10000);
  }

  function onInbox(m) {
    if (m.ack) return onAck(m);
    if (m.notice === 'desk.assigned' && m.conv === st.conv) {
      if (st.closed) onReopened();
      // Handed back to the assistant (by an agent), or a person has it now.
      st.withAssistant = isAssistantName(m.agent);
      st.agent = m.agent; st.position = 0; save(); showAgent(); showQueue();
    } else if (m.notice === 'desk.queued' && m.conv === st.conv) {
      st.withAssistant = false;
      st.agent = ''; st.position = m.position; save(); showAgent();
      if (m.handoff) handedOver(m);
      else showQueue();
      pollQueue();
    } else if (m.notice === 'desk.position' && m.conv === st.conv) {
      // Someone ahead left the queue (or came in ahead, by a transfer). Only
      // while still waiting: one that arrives after desk.assigned is old news.
      if (!st.agent && !st.closed && !st.withAssistant && st.position) {
        st.position = m.position;
        if ('average_wait_ms' in m) st.waitMs = m.average_wait_ms;
        save(); showQueue(); pollQueue();
      }
    } else if (m.notice === 'desk.closed' && m.conv === st.conv) {
      onClosed();
    } else if (m.error && m.error.id) {
      // The server refused a message for good: stop resending it.
      const p = st.pending.find((x) => x.id === m.error.id);
      if (p && m.error.code !== 'rate_limited') {
        st.pending = st.pending.filter((x) => x.id !== m.error.id);
        save();
        const e = st.messages.get(p.id);
        if (e) setState(e, 'failed: ' + m.error.message);
      }
    }
  }

  // ---------------------------------------------------------------- messages
  function render(m, mine) {
    const who = el('span', { class: 'mqw-who', text: mine ? 'You' : m.sender });
    const body = el('span', { class: 'mqw-body', 'data-testid': 'mqchat-message-body', text: m.body || '' });
    const state = el('span', { class: 'mqw-state', 'data-testid': 'mqchat-message-state' });
    const li = el('li', { class: 'mqw-msg' + (mine ? ' mine' : ''), 'data-testid': 'mqchat-message',
      'data-sender': mine ? 'me' : m.sender }, who, isMedia(m) ? attachment(m.media, m.type) : null, body, mine ? state : null);
    list.appendChild(li);
    list.scrollTop = list.scrollHeight;
    return li;
  }
  function setState(li, state, text) {
    li.dataset.state = state;
    const s = li.querySelector('.mqw-state');
    if (s) s.textContent = text || state;
  }
  function onMessage(m, fromHistory) {
    if (m.type === 'quick_replies' && m.seq > st.lastSeq) {
      st.lastSeq = m.seq;
      if (st.withAssistant) showReplies(m.body);
      return;
    }
    if (!m.seq || (m.conv && m.conv !== st.conv) || (m.type && m.type !== 'text' && !isMedia(m))) return;
    if (m.sender !== st.visitor) replies.hidden = true;
    const mine = m.sender === st.visitor;
    let li = (mine && st.messages.get(m.id)) || st.messages.get('seq:' + m.seq);
    if (!li) {
      li = render(m, mine);
      if (!mine && !fromHistory && !st.open) { st.unread++; showUnread(); }
    }
    li.dataset.seq = String(m.seq);
    st.messages.set('seq:' + m.seq, li);
    if (mine) {
      st.messages.set(m.id, li);
      dropPending(m.id);
      setState(li, stateOf(m.seq));
    } else if (!st.agent && m.sender !== st.visitor) {
      st.agent = m.sender; showAgent(); showQueue();
    }
    st.lastSeq = Math.max(st.lastSeq, m.seq);
    if (!fromHistory) readReceipt();
  }
  function stateOf(seq) {
    return st.agentRead >= seq ? 'read' : st.agentDelivered >= seq ? 'delivered' : 'sent';
  }
  function onAck(a) {
    const li = st.messages.get(a.ack);
    dropPending(a.ack);
    if (!li) return;
    li.dataset.seq = String(a.seq);
    st.messages.set('seq:' + a.seq, li);
    st.lastSeq = Math.max(st.lastSeq, a.seq);
    setState(li, stateOf(a.seq));
  }
  function dropPending(id) {
    const before = st.pending.length;
    st.pending = st.pending.filter((p) => p.id !== id);
    if (st.pending.length !== before) save();
  }
  function onReceipt(r) {
    if (r.user === st.visitor) return;
    st.agentDelivered = Math.max(st.agentDelivered, r.delivered || 0, r.read || 0);
    st.agentRead = Math.max(st.agentRead, r.read || 0);
    for (const li of list.querySelectorAll('.mqw-msg.mine')) {
      const seq = Number(li.dataset.seq || 0);
      if (seq) setState(li, stateOf(seq));
    }
  }
  function readReceipt() {
    if (!st.client || !st.client.connected || !st.lastSeq) return;
    const r = { delivered: st.lastSeq };
    if (st.open && document.visibilityState !== 'hidden') r.read = st.lastSeq;
    st.client.publish('chat/conv/' + st.conv + '/receipt', JSON.stringify(r), { qos: 0 });
  }
  document.addEventListener('visibilitychange', () => readReceipt());

  function onTyping(t) {
    if (t.user === st.visitor) return;
    clearTimeout(st.typingOff);
    typingLine.textContent = t.typing ? t.user + ' is typing…' : '';
    if (t.typing) st.typingOff = setTimeout(() => { typingLine.textContent = ''; }, 6000);
  }
  function typing() {
    if (!st.client || !st.client.connected || !st.conv || st.closed) return;
    const now = Date.now();
    if (now - st.typingSentAt > 3000) {
      st.typingSentAt = now;
      st.client.publish('chat/conv/' + st.conv + '/typing', '{"typing":true}', { qos: 0 });
    }
    clearTimeout(st.typingTimer);
    st.typingTimer = setTimeout(() => {
      st.typingSentAt = 0;
      if (st.client && st.client.connected)
        st.client.publish('chat/conv/' + st.conv + '/typing', '{"typing":false}', { qos: 0 });
    }, 2500);
  }

  function publishSend(p) {
    if (!st.client || !st.client.connected) return; // sent by catchUp() after the reconnect
    const e = p.media ? { id: p.id, type: p.type, media: p.media.id } : { id: p.id, body: p.body };
    st.client.publish('chat/conv/' + st.conv + '/send', JSON.stringify(e), { qos: 1 });
  }
  async function send() {
    const body = input.value.trim();
    if (!body) return;
    input.value = '';
    if (starting || !st.conv || st.closed) {
      try { await startConversation({}); } catch (e) { setStatus('Could not start the chat: ' + e.message); input.value = body; return; }
    }
    const p = { id: 'w-' + random(16), body };
    st.pending.push(p);
    save();
    const li = render({ body, sender: st.visitor }, true);
    st.messages.set(p.id, li);
    setState(li, 'sending');
    publishSend(p);
    clearTimeout(st.typingTimer);
    st.typingSentAt = 0;
  }
  function restorePending() {
    for (const p of st.pending) {
      const li = render({ body: p.body, type: p.type, media: p.media, sender: st.visitor }, true);
      st.messages.set(p.id, li);
      setState(li, 'sending');
    }
  }

  // ---------------------------------------------------------------- attachments
  // 1. media.upload grants a single-use upload URL (or says why not);
  // 2. the bytes go there by HTTP PUT, and the media service says what it found (or why it refuses);
  // 3. the message names the upload, and is sent (and resent) like any other;
  // 4. media.url signs the URLs that show an attachment, for an hour or so.
  const MEDIA_TYPES = ['image', 'file', 'audio', 'video'];
  function isMedia(m) { return MEDIA_TYPES.includes(m.type) && !!m.media && typeof m.media === 'object'; }
  async function attach(file) {
    if (!file) return;
    if (starting || !st.conv || st.closed) {
      try { await startConversation({}); } catch (e) { setStatus('Could not start the chat: ' + e.message); return; }
    }
    const li = render({ sender: st.visitor }, true);
    const label = el('span', { class: 'mqw-att', text: file.name });
    li.insertBefore(label, li.querySelector('.mqw-body'));
    setState(li, 'uploading', 'uploading…');
    try {
      const grant = await request(st.client, 'chat/user/' + st.visitor + '/inbox', 'media.upload',
        { conv: st.conv, name: file.name, type: (file.type || 'application/octet-stream').toLowerCase(), size: file.size });
      const r = await putFile(grant.upload_url, file, (pct) => setState(li, 'uploading', 'uploading ' + pct + '%'));
      const media = { id: r.media, name: file.name, mime: r.mime, size: r.size, width: r.width, height: r.height, thumb: r.thumb };
      const p = { id: 'w-' + random(16), type: /^image\//.test(r.mime) ? 'image' : 'file', media };
      label.replaceWith(attachment(media, p.type));
      st.pending.push(p);
      save();
      st.messages.set(p.id, li);
      setState(li, 'sending');
      publishSend(p);
    } catch (e) {
      setState(li, 'failed: ' + e.message);
    }
  }
  /** The bytes to the media service: resolves with its answer, rejects with its refusal's message. A busy
   * service (503 overloaded or unavailable) keeps the URL usable: tried again, three times at most. */
  function putFile(url, file, progress, tries = 3) {
    return new Promise((resolve, reject) => {
      const x = new XMLHttpRequest();
      x.open('PUT', url);
      x.upload.onprogress = (e) => { if (e.lengthComputable) progress(Math.floor((100 * e.loaded) / e.total)); };
      x.onload = () => {
        let r = null;
        try { r = JSON.parse(x.responseText); } catch (e) { /* not JSON */ }
        if (x.status === 200 && r && r.media) resolve(r);
        else if (x.status === 503 && tries > 1 && r && r.error && /^(overloaded|unavailable)$/.test(r.error.code))
          setTimeout(() => putFile(url, file, progress, tries - 1).then(resolve, reject), 5000);
        else reject(new Error(r && r.error ? r.error.message : 'the upload was refused (HTTP ' + x.status + ')'));
      };
      x.onerror = () => reject(new Error('the upload did not go through'));
      x.send(file);
    });
  }
  function humanSize(n) {
    return n < 1024 ? n + ' B' : n < 1048576 ? Math.round(n / 1024) + ' KB' : (n / 1048576).toFixed(1) + ' MB';
  }
  const urls = new Map(); // media id → media.url's answer
  const shown = new Map(); // media id → the elements that show it
  const asking = new Set(); // media ids whose media.url is on its way
  let urlTimer = 0;
  /** An image (its thumbnail, sized before it loads, opening the full one) or a link with the file's name and size. */
  function attachment(media, type) {
    const a = el('a', { target: '_blank', rel: 'noopener' });
    if (type === 'image') {
      a.className = 'mqw-att';
      const img = el('img', { 'data-testid': 'mqchat-attachment-image', alt: media.name });
      const scale = Math.min(1, 220 / Math.max(media.width || 1, media.height || 1));
      if (media.width && media.height) {
        img.width = Math.max(1, Math.round(media.width * scale));
        img.height = Math.max(1, Math.round(media.height * scale));
      }
      a.appendChild(img);
    } else {
      a.setAttribute('data-testid', 'mqchat-attachment-file');
      a.textContent = media.name;
    }
    const node = type === 'image' ? a : el('span', { class: 'mqw-att' }, a, el('span', { text: ' · ' + humanSize(media.size) }));
    if (!shown.has(media.id)) shown.set(media.id, new Set());
    shown.get(media.id).add(a);
    if (urls.has(media.id)) fillUrl(a, urls.get(media.id));
    clearTimeout(urlTimer);
    urlTimer = setTimeout(askUrls, 30); // one media.url for a page of history
    return node;
  }
  function fillUrl(a, u) {
    a.href = u.url;
    const img = a.querySelector('img');
    if (img && !img.naturalWidth) img.src = u.thumb_url || u.url;
  }
  /** media.url for what is shown and has no URL, or one about to expire; again before they do. */
  async function askUrls() {
    clearTimeout(urlTimer);
    if (!st.client || !st.client.connected) return; // catchUp() asks after the reconnect
    const soon = Date.now() + 60000;
    const ids = [];
    for (const [id, links] of shown) {
      for (const a of links) if (!a.isConnected) links.delete(a);
      if (!links.size) shown.delete(id);
      else if (!asking.has(id) && (!urls.has(id) || urls.get(id).expires < soon)) ids.push(id);
    }
    for (let i = 0; i < ids.length; i += 50) {
      const batch = ids.slice(i, i + 50);
      batch.forEach((id) => asking.add(id));
      try {
        const r = await request(st.client, 'chat/user/' + st.visitor + '/inbox', 'media.url', { media: batch });
        for (const u of r.media) {
          urls.set(u.id, u);
          for (const a of shown.get(u.id) || []) fillUrl(a, u);
        }
      } catch (e) { /* asked again after the next reconnect */ }
      batch.forEach((id) => asking.delete(id));
    }
    let next = Infinity;
    for (const id of shown.keys()) if (urls.has(id)) next = Math.min(next, urls.get(id).expires);
    if (next < Infinity) urlTimer = setTimeout(askUrls, Math.max(10000, next - 60000 - Date.now()));
  }

  // ---------------------------------------------------------------- forms
  function showForm(...nodes) {
    formArea.textContent = '';
    for (const n of nodes) formArea.appendChild(n);
    formArea.hidden = false;
    const first = formArea.querySelector('input,textarea,button');
    if (first) first.focus();
  }
  function hideForm() { formArea.hidden = true; formArea.textContent = ''; }
  function field(name, label, type, testid) {
    const inputEl = type === 'textarea' ? el('textarea', { name, 'data-testid': testid, rows: '4', maxlength: '4000' })
      : el('input', { name, type: type || 'text', 'data-testid': testid, maxlength: '1000' });
    return el('label', {}, document.createTextNode(label), inputEl);
  }
  function prechatForm() {
    compose.hidden = true;
    const fields = cfg.prechat.map((f) => {
      const label = field(f.name, f.name.charAt(0).toUpperCase() + f.name.slice(1).replace(/_/g, ' ') +
        (f.required ? ' (required)' : ''), f.type === 'email' ? 'email' : 'text', 'mqchat-prechat-' + f.name);
      label.lastChild.required = !!f.required;
      return label;
    });
    const form = el('form', { 'data-testid': 'mqchat-prechat', class: 'mqw-form' }, ...fields,
      el('button', { class: 'mqw-primary', type: 'submit', 'data-testid': 'mqchat-prechat-submit', text: 'Start the chat' }));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const details = {};
      for (const f of cfg.prechat) { const v = form.elements[f.name].value.trim(); if (v) details[f.name] = v; }
      hideForm();
      compose.hidden = false;
      try { await startConversation(details); } catch (err) { setStatus('Could not start the chat: ' + err.message); }
      input.focus();
    });
    showForm(form);
  }
  function offlineForm(desk) {
    compose.hidden = true;
    setStatus(desk.open ? 'No agent is online right now. Leave us a message:' : 'We are closed now. Leave us a message:');
    const form = el('form', { 'data-testid': 'mqchat-offline-form', class: 'mqw-form' },
      field('name', 'Name', 'text', 'mqchat-offline-name'), field('email', 'E-mail', 'email', 'mqchat-offline-email'),
      field('body', 'Message', 'textarea', 'mqchat-offline-body'),
      el('button', { class: 'mqw-primary', type: 'submit', 'data-testid': 'mqchat-offline-submit', text: 'Send' }));
    form.elements.email.required = true;
    form.elements.body.required = true;
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const offline = { email: form.elements.email.value.trim(), body: form.elements.body.value };
      if (form.elements.name.value.trim()) offline.name = form.elements.name.value.trim();
      try {
        await knock({ offline });
        showForm(el('p', { class: 'mqw-note', 'data-testid': 'mqchat-offline-sent', text: 'Thank you — we will answer by e-mail.' }));
      } catch (err) {
        setStatus('Not sent: ' + err.message);
      }
    });
    showForm(form);
  }

  async function endConversation() {
    if (!st.client || !st.conv || st.closed) return;
    try {
      await request(st.client, 'chat/user/' + st.visitor + '/inbox', 'desk.close', { conv: st.conv });
    } catch (e) { /* already closed */ }
    onClosed();
  }
  function onClosed() {
    if (st.closed) return;
    st.closed = true;
    save();
    clearTimeout(st.pollTimer);
    compose.hidden = true;
    setStatus('This conversation has ended.');
    ratingForm();
  }
  // ---------------------------------------------------------------- the assistant
  /** "Talk to a person": the visitor's own handoff (rule request). */
  async function askForPerson() {
    if (!st.client || !st.conv || !st.withAssistant) return;
    personButton.disabled = true;
    try {
      const r = await request(st.client, 'chat/user/' + st.visitor + '/inbox', 'desk.handoff', { conv: st.conv, rule: 'request' });
      st.withAssistant = false; st.agent = ''; st.position = r.position;
      save(); showAgent();
      handedOver(r);
    } catch (e) {
      setStatus('Could not reach a person: ' + e.message);
    } finally {
      personButton.disabled = false;
    }
  }
  /** After a handoff: the place in line, and the offline form when nobody can come now. */
  function handedOver(h) {
    st.handedOver = true;
    replies.hidden = true;
    showQueue();
    if ((h.open === false || h.agents_online === 0) && !formArea.querySelector('[data-testid=mqchat-offline-form]'))
      offlineForm({ open: h.open !== false, agents_online: h.agents_online });
  }
  /** The assistant's suggestions: one button each; a click asks that question. */
  function showReplies(body) {
    replies.textContent = '';
    for (const text of String(body).split('\n').map((t) => t.trim()).filter(Boolean).slice(0, 4))
      replies.appendChild(el('button', { type: 'button', 'data-testid': 'mqchat-quick-reply', text,
        onclick: () => { replies.hidden = true; input.value = text; send(); } }));
    replies.hidden = replies.children.length === 0;
  }
  /** The desk's assistant, as desk.visit told it. */
  function isAssistantName(name) { return !!st.assistant && name === st.assistant; }

  // ---------------------------------------------------------------- earlier conversations
  function showEarlierBar() {
    earlierBar.hidden = st.earlier.length === 0;
    earlierBar.textContent = earlierList.hidden ? 'Earlier conversations (' + st.earlier.length + ')' : 'Back to the chat';
  }
  /** A request as the visitor (with its guest token), on the chat's connection or a short one of its own. */
  async function asVisitor(method, params) {
    const inbox = 'chat/user/' + st.visitor + '/inbox';
    if (st.client && st.client.connected) return request(st.client, inbox, method, params);
    const mqtt = await loadMqtt();
    const client = mqtt.connect(cfg.server, { username: st.visitor, password: st.token,
      clientId: st.visitor + '-' + tabId + '-r', protocolVersion: 5, clean: true, reconnectPeriod: 0, connectTimeout: 10000 });
    try {
      await new Promise((resolve, reject) => {
        client.once('connect', resolve);
        client.once('error', reject);
      });
      await new Promise((resolve, reject) => client.subscribe(inbox, { qos: 1 }, (e) => (e ? reject(e) : resolve())));
      return await request(client, inbox, method, params);
    } finally {
      client.end(true);
    }
  }
  async function toggleEarlier() {
    const show = earlierList.hidden;
    earlierList.hidden = !show;
    list.hidden = show;
    earlierBar.setAttribute('aria-expanded', String(show));
    showEarlierBar();
    if (!show) return;
    earlierList.textContent = '';
    // Oldest first, like a chat reads; the five newest conversations.
    for (const c of st.earlier.slice(0, 5).reverse()) {
      const when = new Date(c.queued_at).toLocaleString();
      earlierList.appendChild(el('li', { class: 'mqw-earlier-head', 'data-testid': 'mqchat-earlier-conversation',
        text: when + (c.agent ? ' · ' + c.agent : '') }));
      try {
        const h = await asVisitor('history', { conv: c.conv, limit: 50 });
        for (const m of h.messages.slice().sort((a, b) => a.seq - b.seq)) {
          if (m.type && m.type !== 'text' && !isMedia(m)) continue;
          const mine = m.sender === st.visitor;
          // An attachment by its name only: this list is a transcript.
          const text = isMedia(m) ? 'Attachment: ' + m.media.name + (m.body ? '\n' + m.body : '') : m.body;
          earlierList.appendChild(el('li', { class: 'mqw-msg' + (mine ? ' mine' : ''), 'data-testid': 'mqchat-earlier-message',
            'data-sender': mine ? 'me' : m.sender },
          el('span', { class: 'mqw-who', text: mine ? 'You' : m.sender }), el('span', { text })));
        }
      } catch (e) {
        earlierList.appendChild(el('li', { class: 'mqw-earlier-head', text: 'Could not load it: ' + e.message }));
      }
    }
  }

  /** An agent took the closed conversation up again: back to the chat. */
  function onReopened() {
    st.closed = false;
    save();
    hideForm();
    compose.hidden = false;
    setStatus('');
  }
  function ratingForm() {
    let rating = 0;
    const stars = el('div', { class: 'mqw-stars', role: 'group', 'aria-label': 'Your rating, 1 to 5' });
    for (let i = 1; i <= 5; i++) {
      stars.appendChild(el('button', { type: 'button', 'data-testid': 'mqchat-rate-' + i, 'aria-pressed': 'false',
        'aria-label': i + ' of 5', text: '★'.repeat(i), onclick: () => {
          rating = i;
          for (const b of stars.children) b.setAttribute('aria-pressed', String(b === stars.children[i - 1]));
        } }));
    }
    const comment = el('textarea', { 'data-testid': 'mqchat-rating-comment', rows: '3', maxlength: '2000' });
    const email = el('input', { type: 'email', 'data-testid': 'mqchat-transcript-email',
      value: cfg.identity && cfg.identity.email ? cfg.identity.email : '' });
    const form = el('form', { 'data-testid': 'mqchat-rating', class: 'mqw-form' },
      el('p', { class: 'mqw-note', text: 'How did we do?' }), stars,
      el('label', {}, document.createTextNode('Comment (optional)'), comment),
      el('label', {}, document.createTextNode('E-mail me the transcript (optional)'), email),
      el('button', { class: 'mqw-primary', type: 'submit', 'data-testid': 'mqchat-rate-submit', text: 'Send' }),
      el('button', { type: 'button', 'data-testid': 'mqchat-new-conversation', text: 'Start a new conversation',
        onclick: () => newConversation() }));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const inbox = 'chat/user/' + st.visitor + '/inbox';
      try {
        if (rating) {
          const p = { conv: st.conv, rating };
          if (comment.value.trim()) p.comment = comment.value;
          await request(st.client, inbox, 'desk.rate', p);
        }
        if (email.value.trim()) await request(st.client, inbox, 'desk.transcript', { conv: st.conv, email: email.value.trim() });
        showForm(el('p', { class: 'mqw-note', 'data-testid': 'mqchat-rating-thanks', text: 'Thank you!' }),
          el('button', { type: 'button', 'data-testid': 'mqchat-new-conversation', text: 'Start a new conversation',
            onclick: () => newConversation() }));
      } catch (err) {
        setStatus('Not sent: ' + err.message);
      }
    });
    showForm(form);
  }
  function newConversation() {
    hideForm();
    if (st.client) { st.client.end(true); st.client = null; }
    st.conv = 0; st.token = ''; st.closed = false; st.pending = [];
    resetConversation();
    save();
    compose.hidden = false;
    input.focus();
    begin();
  }

  // ---------------------------------------------------------------- start
  showAgent();
  restorePending();
  window.mqchatWidget = { open: () => toggle(true), close: () => toggle(false), state: st };
  // A conversation in progress: connect now, so new answers light the badge.
  if (st.conv && st.token && !st.closed) begin();
})();
