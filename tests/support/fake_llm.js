// A stand-in for an OpenAI-compatible chat-completions endpoint, for the
// assistant's tests (docs/assistant.md, "A language model"): plain HTTP,
// one JSON line per request in LOG (its authorization header and body).
//
//   node fake_llm.js PORT_FILE MODE_FILE LOG
//
// POST /v1/chat/completions needs "authorization: Bearer test-llm-key"; the
// first word of MODE_FILE (read per request) decides the answer:
//   grounded  200, "Drafted: " and the first entry's answer from the system message
//   slow      the same after 5 s
//   error     500
//   nonsense  200 with text about nothing in the entries
//   decline   200, "ESCALATE"
//   garbage   200, not JSON
'use strict';
const fs = require('fs');
const http = require('http');

const [portFile, modeFile, logFile] = process.argv.slice(2);

function reply(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}
function completion(text) {
  return { id: 'cmpl-1', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }] };
}

const server = http.createServer((req, res) => {
  let data = '';
  req.on('data', (c) => { data += c; });
  req.on('end', () => {
    fs.appendFileSync(logFile, JSON.stringify({ path: req.url, authorization: req.headers.authorization || '', body: data }) + '\n');
    if (req.method !== 'POST' || req.url !== '/v1/chat/completions') return reply(res, 404, { error: 'no such path' });
    if (req.headers.authorization !== 'Bearer test-llm-key') return reply(res, 401, { error: 'bad key' });
    let body;
    try { body = JSON.parse(data); } catch (e) { return reply(res, 400, { error: 'not JSON' }); }
    const system = (body.messages || []).find((m) => m.role === 'system');
    const entry = /\nA: ([^\n]*)/.exec(system ? system.content : '');
    const grounded = 'Drafted: ' + (entry ? entry[1] : 'nothing');
    const mode = (fs.existsSync(modeFile) ? fs.readFileSync(modeFile, 'utf8') : 'grounded').trim().split(/\s+/)[0];
    if (mode === 'slow') return setTimeout(() => reply(res, 200, completion(grounded)), 5000);
    if (mode === 'error') return reply(res, 500, { error: 'overloaded' });
    if (mode === 'nonsense') return reply(res, 200, completion('Bananas orbit quietly beneath purple mountains while violins evaporate.'));
    if (mode === 'decline') return reply(res, 200, completion('ESCALATE'));
    if (mode === 'garbage') return reply(res, 200, 'this is not JSON');
    return reply(res, 200, completion(grounded));
  });
});
server.listen(0, '127.0.0.1', () => fs.writeFileSync(portFile, String(server.address().port)));
