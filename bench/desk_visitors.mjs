// The load of the "desks_ws" case (bench/desks.cpp starts the stack and
// runs this): web visitors as the widget is — MQTT.js over WebSocket, a knock
// with the site key, desk.visit, then a login with the guest token and a
// first message — and agents as the console is, MQTT.js over WebSocket too,
// subscribing to a conversation when routing assigns it to them.
//
// Prints one line per figure: `figure NAME VALUE`, and `error TEXT` on failure.
//
// env: MQCHAT_WS (ws://127.0.0.1:PORT/mqtt), MQCHAT_SITE_KEY, MQCHAT_AGENTS (n),
//      MQCHAT_VISITORS (n), MQCHAT_RATE (visitors a second), MQCHAT_VISITOR_URL
//      (the visitors' transport when not the WebSocket), MQCHAT_BARE=1: the
//      baseline on bare Mosquitto — the same connections at the same pace, a
//      round trip through the broker in place of desk.visit, no agents.
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const require = createRequire(import.meta.url);
const mqtt = require('../web/node_modules/mqtt');

const ws = process.env.MQCHAT_WS;
const siteKey = process.env.MQCHAT_SITE_KEY;
const agentCount = Number(process.env.MQCHAT_AGENTS);
const visitorCount = Number(process.env.MQCHAT_VISITORS);
const rate = Number(process.env.MQCHAT_RATE);
const visitorUrl = process.env.MQCHAT_VISITOR_URL || ws; // the visitors' transport (agents stay on WebSocket)

const now = () => performance.timeOrigin + performance.now(); // ms, sub-ms resolution
const name = (prefix) => prefix + randomBytes(16).toString('base64url').slice(0, 22);
function percentile(values, p) {
  if (!values.length) return NaN;
  const v = values.slice().sort((a, b) => a - b);
  return v[Math.min(v.length - 1, Math.ceil((p / 100) * v.length) - 1)];
}
/** Connects; a connection closed without a CONNACK (a first password login
 * being checked: docs/protocol.md, "Come back later") is tried again. */
async function connect(opts, url = ws) {
  for (let attempt = 0; ; attempt++) {
    const c = await new Promise((resolve, reject) => {
      const c = mqtt.connect(url, Object.assign({ protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 30000 }, opts));
      c.once('connect', () => resolve(c));
      c.once('error', (e) => { c.end(true); reject(e); });
      c.once('close', () => resolve(null));
    });
    if (c && c.connected) return c;
    if (attempt >= 50) throw new Error('no CONNACK for ' + opts.username);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
function subscribe(c, topic) {
  return new Promise((resolve, reject) => c.subscribe(topic, { qos: 1 }, (e, g) => (e || g[0].reason >= 0x80 ? reject(e || new Error('refused ' + topic)) : resolve())));
}

const startedAt = new Map(); // visitor name → when it asked desk.visit
// A conversation is open in its agent's console once the agent's
// subscription is granted; the visitor's first message waits for that
// (a console that opens a conversation later reads its history instead).
const consoles = new Map(); // conv → { opened: Promise, open() }
function consoleOf(conv) {
  if (!consoles.has(conv)) {
    let open;
    const opened = new Promise((resolve) => { open = resolve; });
    consoles.set(conv, { opened, open });
  }
  return consoles.get(conv);
}
const assignMs = [], messageMs = [], visitMs = [];
let assigned = 0;

// The agents: each listens on its inbox; routing's desk.assigned names the visitor.
const agents = [];
for (let i = 0; i < agentCount; i++) {
  const user = 'agent' + i; // bench.cpp's add_users names them agent0, agent1, …
  const c = await connect({ username: user, password: 'pw', clientId: user + '-console', clean: true },
    ws);
  await subscribe(c, 'chat/user/' + user + '/inbox');
  c.on('message', (topic, payload) => {
    const m = JSON.parse(payload.toString());
    if (m.notice === 'desk.assigned' && m.visitor) {
      const t0 = startedAt.get(m.visitor);
      if (t0 !== undefined) assignMs.push(now() - t0);
      assigned++;
      // A new conversation the broker may not know yet: when the plugin
      // says come back later (a refused SUBACK under load), try again, as
      // docs/protocol.md asks of clients.
      const topic = 'chat/conv/' + m.conv + '/msg', until = now() + 15000;
      // (MQTT.js reports a refusal as an error carrying the SUBACK's codes.)
      const join = () => c.subscribe(topic, { qos: 1 }, (e) => {
        if (e && e.packet && e.packet.granted && e.packet.granted[0] >= 0x80 && now() < until) return setTimeout(join, 200);
        consoleOf(m.conv).open();
      });
      join();
    } else if (topic.endsWith('/msg') && m.sender && m.sender.startsWith('v-')) {
      messageMs.push(now() - Number(m.body));
    }
  });
  agents.push(c);
}
console.log('agents ready');

const bare = process.env.MQCHAT_BARE === '1';
/** The baseline's visitor: two connections and a round trip, nothing else. */
async function bareVisitor() {
  const first = name('k-');
  const a = await connect({ clientId: first, clean: true }, visitorUrl);
  const topic = 'bare/' + first + '/inbox';
  await subscribe(a, topic);
  const t0 = now();
  await new Promise((resolve) => { a.once('message', resolve); a.publish(topic, '{"corr":"visit"}', { qos: 1 }); });
  visitMs.push(now() - t0);
  a.end(true);
  const b = await connect({ clientId: name('v-'), clean: true }, visitorUrl);
  await new Promise((resolve) => b.publish('bare/' + first + '/send', '{"id":"first"}', { qos: 1 }, resolve));
  return b;
}

// A visitor: knock, desk.visit (start), log in with the guest token, say something.
async function visitor() {
  const me = name('v-');
  const secret = randomBytes(24).toString('base64url');
  const knockName = name('k-');
  const knock = await connect({ username: knockName, password: siteKey, clientId: knockName, clean: true }, visitorUrl);
  const inbox = 'chat/user/' + knockName + '/inbox';
  await subscribe(knock, inbox);
  const t0 = now();
  startedAt.set(me, t0);
  const result = await new Promise((resolve, reject) => {
    knock.on('message', (topic, payload) => {
      const m = JSON.parse(payload.toString());
      if (m.corr === 'visit') (m.error ? reject(new Error(m.error.message)) : resolve(m.result));
    });
    knock.publish('chat/rpc/desk.visit', JSON.stringify({ corr: 'visit', visitor: me, secret, details: { name: 'Bench visitor', page: 'bench' } }), { qos: 1 });
  });
  visitMs.push(now() - t0);
  knock.end(true);
  const conv = result.conversation.conv;
  const guest = await connect({ username: me, password: result.token, clientId: me + '-tab', clean: true }, visitorUrl);
  await consoleOf(conv).opened;
  await new Promise((resolve) => guest.publish('chat/conv/' + conv + '/send',
    JSON.stringify({ id: 'first', body: String(now()) }), { qos: 1 }, resolve));
  return guest;
}

// How late this process's own event loop ran: a busy load generator adds
// its lateness to every figure, so it is reported beside them.
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();
const guests = [];
const failures = [];
const t0 = now();
const running = [];
for (let i = 0; i < visitorCount; i++) {
  const due = t0 + (i * 1000) / rate;
  const wait = due - now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  running.push((bare ? bareVisitor() : visitor()).then((g) => guests.push(g), (e) => failures.push(e.message)));
}
await Promise.all(running);
// Generous: this is also CI's smoke run, beside other suites on two cores,
// where the WebSocket listener falls behind (docs/benchmarks.md); the
// figures are not judged there, only that everything arrives.
const deadline = now() + 60000;
while (!bare && (messageMs.length < guests.length || assigned < visitorCount) && now() < deadline)
  await new Promise((resolve) => setTimeout(resolve, 100));

for (const c of guests) c.end(true);
for (const c of agents) c.end(true);
if (failures.length) console.log('error ' + failures.length + ' visitors failed, first: ' + failures[0]);
console.log('figure visitors ' + visitorCount);
console.log('figure assigned ' + assignMs.length);
console.log('figure messages ' + messageMs.length);
console.log('figure assign_p50_ms ' + percentile(assignMs, 50).toFixed(2));
console.log('figure assign_p99_ms ' + percentile(assignMs, 99).toFixed(2));
console.log('figure visit_p50_ms ' + percentile(visitMs, 50).toFixed(2));
console.log('figure visit_p99_ms ' + percentile(visitMs, 99).toFixed(2));
console.log('figure message_p50_ms ' + percentile(messageMs, 50).toFixed(2));
console.log('figure message_p99_ms ' + percentile(messageMs, 99).toFixed(2));
console.log('figure loadgen_delay_p99_ms ' + (loopDelay.percentile(99) / 1e6).toFixed(2));
console.log('figure loadgen_cpu_s ' + ((process.cpuUsage().user + process.cpuUsage().system) / 1e6).toFixed(2));
process.exit(0);
