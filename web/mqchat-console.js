/*
 * mqchat agents' console (console.html; docs/widget.md): an agent logs in
 * over MQTT-over-WebSocket with a password or token, sees the waiting
 * conversations of its desks oldest first (a supervisor: every desk),
 * claims one (the first claim wins: a conflict shows at once), chats,
 * reads the visitor's details and earlier conversations, keeps internal
 * notes, inserts canned responses, transfers to another agent or desk,
 * closes and reopens; sends and shows attachments (media.upload, a PUT to
 * the media service, media.url: docs/widget.md, "Attachments"). Everything
 * people wrote is shown with textContent, never as HTML.
 */
(function () {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const server = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/mqtt';
  const st = { me: '', client: null, inbox: '', open: 0, lastSeq: 0, queue: [], mine: [], typingAt: 0, typingOff: 0 };

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
  function random(n) {
    const a = new Uint8Array(n);
    crypto.getRandomValues(a);
    return Array.from(a, (b) => 'abcdefghijklmnopqrstuvwxyz0123456789'[b % 36]).join('');
  }
  let corrNext = 0;
  const waiting = new Map();
  function call(method, params) {
    const corr = 'c' + (++corrNext) + '-' + random(6);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { waiting.delete(corr); reject(new Error('no answer')); }, 15000);
      waiting.set(corr, (m) => {
        clearTimeout(timer);
        if (m.error) reject(Object.assign(new Error(m.error.message), { code: m.error.code }));
        else resolve(m.result);
      });
      st.client.publish('chat/rpc/' + method, JSON.stringify(Object.assign({ corr }, params || {})), { qos: 1 });
    });
  }
  function flash(text) { $('conn').textContent = text; }

  // A new conversation in the queue: a short tone, and a desktop notification when allowed.
  function alertNew(text) {
    try {
      const ctx = new (window.AudioContext || window.webkitAudioContext)();
      const o = ctx.createOscillator();
      o.frequency.value = 880;
      o.connect(ctx.destination);
      o.start();
      o.stop(ctx.currentTime + 0.15);
    } catch (e) { /* no sound here */ }
    if (window.Notification && Notification.permission === 'granted') new Notification('mqchat', { body: text });
  }

  $('login').addEventListener('submit', (e) => {
    e.preventDefault();
    const user = e.target.elements.user.value.trim();
    const password = e.target.elements.password.value;
    $('login-error').textContent = '';
    const client = mqtt.connect(server, { username: user, password, clientId: user + '-console-' + random(6),
      protocolVersion: 5, clean: true, reconnectPeriod: 2000, connectTimeout: 10000 });
    let first = true;
    client.on('connect', async () => {
      st.client = client;
      st.me = user;
      st.inbox = 'chat/user/' + user + '/inbox';
      client.subscribe(st.inbox, { qos: 1 }, async () => {
        if (first) {
          first = false;
          $('login').hidden = true;
          $('app').hidden = false;
          $('me').textContent = user;
          if (window.Notification && Notification.permission === 'default') Notification.requestPermission();
        }
        flash('connected');
        await refresh();
        if (st.open) openConversation(st.open, true);
        askUrls();
      });
    });
    client.on('error', (err) => {
      if (first) {
        $('login-error').textContent = 'Login refused: ' + err.message;
        client.end(true);
      }
    });
    client.on('offline', () => flash('reconnecting…'));
    client.on('message', onMessage);
  });

  function onMessage(topic, payload) {
    let m;
    try { m = JSON.parse(payload.toString()); } catch (e) { return; }
    if (topic === st.inbox) {
      if (m.corr && waiting.has(m.corr)) { const f = waiting.get(m.corr); waiting.delete(m.corr); f(m); return; }
      if (m.ack) { if (sending.delete(m.ack)) attachStatus(''); return; }
      if (m.error && sending.has(m.error.id)) {
        attachStatus('Not sent: ' + sending.get(m.error.id) + ': ' + m.error.message);
        sending.delete(m.error.id);
        return;
      }
      if (m.notice === 'desk.queued') { alertNew('A visitor is waiting at ' + m.desk); refresh(); }
      else if (m.notice === 'desk.assigned') { if (m.visitor) alertNew('You have a new conversation'); refresh(); }
      else if (m.notice === 'desk.closed' && m.conv === st.open) { flash('Closed by ' + m.by); showActions('closed'); refresh(); }
      else if (m.notice === 'desk.transferred' && m.conv === st.open) { flash('Moved by ' + m.by); showActions('none'); refresh(); }
      else if (m.notice === 'desk.taken' || m.notice === 'desk.closed' || m.notice === 'desk.transferred') refresh();
      else if (m.notice === 'desk.note' && m.conv === st.open) loadNotes();
      return;
    }
    const base = 'chat/conv/' + st.open + '/';
    if (topic === base + 'msg') addMessage(m);
    else if (topic === base + 'typing' && m.user !== st.me) {
      clearTimeout(st.typingOff);
      $('typing').textContent = m.typing ? m.user + ' is typing…' : '';
      if (m.typing) st.typingOff = setTimeout(() => { $('typing').textContent = ''; }, 6000);
    }
  }

  async function refresh() {
    try {
      const q = await call('desk.queue', {});
      st.queue = q.queue;
    } catch (e) { st.queue = []; }
    try {
      const mine = await call('desk.mine', {});
      st.mine = mine.conversations;
    } catch (e) { st.mine = []; }
    drawLists();
  }
  function ago(ms) {
    const s = Math.round(ms / 1000);
    return s < 60 ? s + ' s' : Math.round(s / 60) + ' min';
  }
  function drawLists() {
    $('queue').textContent = '';
    $('queue-count').textContent = String(st.queue.length);
    for (const q of st.queue) {
      const claim = el('button', { 'data-testid': 'claim', 'data-conv': String(q.conv), text: 'Claim',
        onclick: (e) => { e.stopPropagation(); claim_(q.conv); } });
      $('queue').appendChild(el('li', { class: 'item', 'data-testid': 'queue-item', 'data-conv': String(q.conv) },
        el('div', { 'data-testid': 'queue-visitor', text: q.visitor }),
        el('div', { class: 'muted', text: q.desk + ' · waiting ' + ago(q.waiting_ms) + ' · #' + q.position }),
        el('div', { class: 'muted', 'data-testid': 'queue-preview', text: Object.entries(q.details || {})
          .map(([k, v]) => k + ': ' + v).join(' · ').slice(0, 200) }),
        q.handoff ? el('div', { class: 'handoff-line', 'data-testid': 'queue-handoff',
          text: 'From the assistant: ' + (RULES[q.handoff.rule] || q.handoff.rule) }) : null, claim));
    }
    $('mine').textContent = '';
    for (const c of st.mine) {
      const li = el('li', { class: 'item', 'data-testid': 'mine-item', 'data-conv': String(c.conv),
        'aria-current': String(c.conv === st.open), tabindex: '0', onclick: () => openConversation(c.conv),
        onkeydown: (e) => { if (e.key === 'Enter') openConversation(c.conv); } },
      el('div', { text: c.visitor }), el('div', { class: 'muted', text: c.desk }));
      $('mine').appendChild(li);
    }
  }
  async function claim_(conv) {
    try {
      await call('desk.claim', { conv });
      await refresh();
      openConversation(conv);
    } catch (e) {
      flash(e.code === 'conflict' ? 'Someone else took it: ' + e.message : 'Not claimed: ' + e.message);
      refresh();
    }
  }

  /**
   * Subscribes to `topics` of a conversation the agent has just been given. The broker may refuse it
   * (SUBACK 0x87) while it cannot yet confirm the new membership — its lookup ran past its budget under
   * load (docs/protocol.md, "Refused subscriptions") — so the refused ones are asked again every 200 ms
   * for up to 15 s, while `wanted()` holds. Resolves with the topics still refused ([] when all granted).
   */
  function subscribeAsMember(topics, wanted) {
    const until = Date.now() + 15000;
    return new Promise((resolve) => {
      const attempt = (list) => st.client.subscribe(list, { qos: 1 }, (err) => {
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

  async function openConversation(conv, again) {
    if (st.open && st.open !== conv) st.client.unsubscribe(['msg', 'typing'].map((t) => 'chat/conv/' + st.open + '/' + t));
    st.open = conv;
    drawLists();
    const base = 'chat/conv/' + conv + '/';
    if (!again) { $('messages').textContent = ''; st.lastSeq = 0; }
    const from = st.lastSeq;
    showActions('open');
    $('note-compose').hidden = false;
    // History after the subscription stands, from where the panel was before it, so that nothing
    // falls between the two (what comes live meanwhile is shown once: addMessage).
    const refused = await subscribeAsMember([base + 'msg', base + 'typing'], () => st.open === conv);
    if (st.open !== conv) return;
    if (refused.length) flash('not receiving live messages of #' + conv + ' — reopen it');
    try {
      const h = await call('history', from ? { conv, after: from, limit: 100 } : { conv, limit: 50 });
      if (st.open === conv) h.messages.forEach(addMessage);
    } catch (e) { flash('history: ' + e.message); }
    try {
      const v = await call('desk.visitor', { conv });
      $('conv-h').textContent = 'Conversation with ' + v.visitor;
      showHandoff(v.handoff);
      const dl = $('details');
      dl.textContent = '';
      for (const [k, val] of Object.entries(v.details || {})) {
        dl.appendChild(el('dt', { text: k }));
        dl.appendChild(el('dd', { 'data-testid': 'visitor-detail-' + k, text: val }));
      }
      $('earlier').textContent = '';
      for (const e of v.earlier || [])
        $('earlier').appendChild(el('li', { class: 'muted', text: '#' + e.conv + ' ' + e.desk + ' · ' + e.status +
          (e.agent ? ' · ' + e.agent : '') + (e.rating ? ' · ★' + e.rating : '') }));
    } catch (e) { /* not ours any more */ }
    loadNotes();
    loadCanned();
    loadTransferTargets();
  }
  // Why the assistant handed a conversation over (docs/assistant.md).
  const RULES = { keyword: 'asked for a person', sentiment: 'upset', failures: 'could not answer',
    rephrase: 'asked again', length: 'long conversation', attribute: 'customer to serve in person',
    request: 'pressed "Talk to a person"', hours: 'out of hours', unavailable: 'assistant unavailable',
    agent: 'taken over by an agent', assistant_off: 'assistant switched off' };
  /** The handoff card, read first: the rule, the counts, the sentiment trend, what the visitor wants, the answers given. */
  function showHandoff(h) {
    const card = $('handoff');
    card.textContent = '';
    card.hidden = !h;
    if (!h) return;
    card.appendChild(el('h2', { text: 'From the assistant' }));
    card.appendChild(el('div', { 'data-testid': 'handoff-rule', text: 'Why: ' + (RULES[h.rule] || h.rule) + ' (' + h.rule + ')' }));
    if (h.turns !== undefined)
      card.appendChild(el('div', { class: 'muted', text: h.turns + ' messages, ' + (h.failures || 0) + ' unanswered in a row' }));
    if (Array.isArray(h.sentiment) && h.sentiment.length)
      card.appendChild(el('div', { class: 'muted', 'data-testid': 'handoff-sentiment',
        text: 'Mood: ' + h.sentiment.map((x) => (x > 0 ? '+' : '') + Number(x).toFixed(1)).join(' → ') }));
    const summary = el('ul', { 'data-testid': 'handoff-summary' });
    for (const line of h.summary || []) summary.appendChild(el('li', { 'data-testid': 'handoff-summary-item', text: String(line) }));
    if (summary.children.length) card.appendChild(summary);
    if (Array.isArray(h.answers) && h.answers.length)
      card.appendChild(el('div', { class: 'muted', text: 'Answered with: ' + h.answers.join(', ') }));
  }

  /** Where the open conversation can go: the desk's other agents, or another desk's queue. */
  async function loadTransferTargets() {
    const sel = $('transfer');
    sel.length = 1;
    for (const g of Array.from(sel.querySelectorAll('optgroup'))) g.remove();
    const mine = st.mine.find((c) => c.conv === st.open);
    if (!mine) return;
    const agents = el('optgroup', { label: 'Agents of ' + mine.desk });
    const desks = el('optgroup', { label: 'Other desks' });
    try {
      const a = await call('desk.agents', { desk: mine.desk });
      for (const agent of a.agents) {
        if (agent.agent === st.me) continue;
        agents.appendChild(el('option', { value: 'agent:' + agent.agent, text: agent.agent +
          (agent.online ? '' : ' (offline)') + ' · ' + agent.assigned + '/' + agent.capacity }));
      }
    } catch (e) { /* not an agent of it */ }
    $('to-bot').hidden = true;
    try {
      const d = await call('desk.list', {});
      for (const desk of d.desks) {
        if (desk.desk === mine.desk) { $('to-bot').hidden = !desk.assistant; continue; }
        desks.appendChild(el('option', { value: 'desk:' + desk.desk, text: desk.title + ' (' + desk.desk + ') · ' +
          desk.agents_online + ' online, ' + desk.waiting + ' waiting' + (desk.open ? '' : ' · closed') }));
      }
    } catch (e) { /* none */ }
    if (agents.children.length) sel.appendChild(agents);
    if (desks.children.length) sel.appendChild(desks);
  }
  $('transfer').addEventListener('change', async (e) => {
    const target = e.target.value;
    if (!target || !st.open) return;
    e.target.value = '';
    const [kind, name] = [target.slice(0, target.indexOf(':')), target.slice(target.indexOf(':') + 1)];
    try {
      await call('desk.transfer', kind === 'desk' ? { conv: st.open, desk: name } : { conv: st.open, to: name });
      flash('Transferred to ' + (kind === 'desk' ? 'desk ' : '') + name);
      showActions('none');
      st.open = 0;
      refresh();
    } catch (err) {
      flash('Not transferred: ' + err.message);
    }
  });
  /** What the open conversation offers: replying and its actions, reopening (closed), or nothing (gone). */
  function showActions(what) {
    $('compose').hidden = what !== 'open';
    $('actions').hidden = what !== 'open';
    $('reopen').hidden = what !== 'closed';
  }
  // Each message once, in seq order: a live one can arrive before the history read that precedes it.
  function addMessage(m) {
    const list = $('messages');
    if (!m.seq || (m.type && m.type !== 'text' && !isMedia(m))) return;
    if (list.querySelector('[data-seq="' + Number(m.seq) + '"]')) return;
    const mine = m.sender === st.me;
    const item = el('li', { class: 'msg' + (mine ? ' mine' : ''), 'data-testid': 'message',
      'data-sender': m.sender, 'data-seq': String(m.seq) },
    el('div', { class: 'muted', text: m.sender }), isMedia(m) ? attachment(m.media, m.type) : null,
    m.body || !isMedia(m) ? el('div', { 'data-testid': 'message-body', text: m.body || '' }) : null);
    let after = list.lastElementChild;
    while (after && Number(after.dataset.seq) > m.seq) after = after.previousElementSibling;
    list.insertBefore(item, after ? after.nextSibling : list.firstChild);
    if (m.seq <= st.lastSeq) return;
    st.lastSeq = m.seq;
    list.scrollTop = list.scrollHeight;
    // Read: the visitor's widget shows it.
    st.client.publish('chat/conv/' + st.open + '/receipt', JSON.stringify({ read: m.seq }), { qos: 0 });
  }
  async function loadNotes() {
    try {
      const n = await call('desk.notes', { conv: st.open });
      $('notes').textContent = '';
      for (const note of n.notes)
        $('notes').appendChild(el('div', { class: 'note', 'data-testid': 'note' },
          el('div', { class: 'muted', text: note.by }), el('div', { text: note.body })));
    } catch (e) { /* none */ }
  }
  async function loadCanned() {
    try {
      const c = await call('desk.canned', {});
      const sel = $('canned');
      sel.length = 1;
      for (const r of c.canned) sel.appendChild(el('option', { value: r.body, text: '/' + r.shortcut }));
    } catch (e) { /* none */ }
  }
  $('canned').addEventListener('change', (e) => {
    if (!e.target.value) return;
    $('reply').value += ($('reply').value ? ' ' : '') + e.target.value;
    e.target.value = '';
    $('reply').focus();
  });

  function sendReply() {
    const body = $('reply').value.trim();
    if (!body || !st.open) return;
    $('reply').value = '';
    st.client.publish('chat/conv/' + st.open + '/send', JSON.stringify({ id: 'a-' + random(16), body }), { qos: 1 });
    st.client.publish('chat/conv/' + st.open + '/typing', '{"typing":false}', { qos: 0 });
    st.typingAt = 0;
  }
  $('send').addEventListener('click', sendReply);

  // Attachments, as the widget does them: media.upload grants an upload URL,
  // the bytes go there by HTTP PUT, the message names the upload; media.url
  // signs the URLs that show one (batched per history page, asked again
  // before they expire).
  const MEDIA_TYPES = ['image', 'file', 'audio', 'video'];
  function isMedia(m) { return MEDIA_TYPES.includes(m.type) && !!m.media && typeof m.media === 'object'; }
  const sending = new Map(); // message id → file name, until acked
  function attachStatus(text) { $('attach-status').textContent = text; }
  $('attach').addEventListener('click', () => $('attach-file').click());
  $('attach-file').addEventListener('change', (e) => { const f = e.target.files[0]; e.target.value = ''; attach(f); });
  async function attach(file) {
    const conv = st.open;
    if (!file || !conv) return;
    attachStatus('Uploading ' + file.name + '…');
    try {
      const grant = await call('media.upload', { conv, name: file.name,
        type: (file.type || 'application/octet-stream').toLowerCase(), size: file.size });
      const r = await putFile(grant.upload_url, file, (pct) => attachStatus('Uploading ' + file.name + ' · ' + pct + '%'));
      const id = 'a-' + random(16);
      sending.set(id, file.name);
      attachStatus('Sending ' + file.name + '…');
      st.client.publish('chat/conv/' + conv + '/send', JSON.stringify({ id, type: /^image\//.test(r.mime) ? 'image' : 'file',
        media: r.media }), { qos: 1 });
    } catch (e) {
      attachStatus('Not sent: ' + file.name + ': ' + e.message);
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
  const shown = new Map(); // media id → the links that show it
  const asking = new Set(); // media ids whose media.url is on its way
  let urlTimer = 0;
  /** An image (its thumbnail, sized before it loads, opening the full one) or a link with the file's name and size. */
  function attachment(media, type) {
    const a = el('a', { target: '_blank', rel: 'noopener' });
    if (type === 'image') {
      a.className = 'att';
      const img = el('img', { 'data-testid': 'attachment-image', alt: media.name });
      const scale = Math.min(1, 280 / Math.max(media.width || 1, media.height || 1));
      if (media.width && media.height) {
        img.width = Math.max(1, Math.round(media.width * scale));
        img.height = Math.max(1, Math.round(media.height * scale));
      }
      a.appendChild(img);
    } else {
      a.setAttribute('data-testid', 'attachment-file');
      a.textContent = media.name;
    }
    const node = type === 'image' ? a : el('span', { class: 'att' }, a, el('span', { class: 'muted', text: ' · ' + humanSize(media.size) }));
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
    if (!st.client || !st.client.connected) return; // asked again after the reconnect
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
        const r = await call('media.url', { media: batch });
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
  $('reply').addEventListener('keydown', (e) => { if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); sendReply(); } });
  $('reply').addEventListener('input', () => {
    if (!st.open || Date.now() - st.typingAt < 3000) return;
    st.typingAt = Date.now();
    st.client.publish('chat/conv/' + st.open + '/typing', '{"typing":true}', { qos: 0 });
  });
  $('close').addEventListener('click', async () => {
    try { await call('desk.close', { conv: st.open }); } catch (e) { flash('close: ' + e.message); }
    showActions('closed');
    refresh();
  });
  $('to-bot').addEventListener('click', async () => {
    try {
      await call('desk.to_bot', { conv: st.open });
      flash('Back with the assistant');
      showActions('none');
      st.open = 0;
      refresh();
    } catch (e) { flash('Not handed back: ' + e.message); }
  });
  // A closed conversation stays on screen until another is opened; reopening takes it back.
  $('reopen').addEventListener('click', async () => {
    try {
      await call('desk.reopen', { conv: st.open });
      flash('Reopened');
      await refresh();
      openConversation(st.open, true);
    } catch (e) { flash('Not reopened: ' + e.message); }
  });
  $('add-note').addEventListener('click', async () => {
    const body = $('note').value.trim();
    if (!body) return;
    try { await call('desk.note', { conv: st.open, body }); $('note').value = ''; loadNotes(); } catch (e) { flash('note: ' + e.message); }
  });
  $('status').addEventListener('change', (e) => call('presence.set', { status: e.target.value }).catch(() => {}));
  setInterval(() => { if (st.client && st.client.connected) refresh(); }, 15000);
})();
