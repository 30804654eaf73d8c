// A stand-in for Google's OAuth token endpoint, FCM's HTTP v1 API and APNs,
// for tests: HTTPS with HTTP/2 (node's http2 module), checking what the real
// services check and logging every request as one JSON line.
//
//   node fake_push.js PORT_FILE CERT KEY SERVICE_ACCOUNT_PUBLIC_KEY APNS_PUBLIC_KEY LOG
//
// POST /token          verifies the RS256 JWT grant against the public key
//                      (alg, signature, iss, scope, aud, iat/exp) and hands
//                      out access token "at-1" for an hour
// POST /v1/projects/P/messages:send
//                      needs "authorization: Bearer at-1"; the device token
//                      decides the answer: "tok-gone" 404 UNREGISTERED,
//                      "tok-busy" 429 with retry-after: 1 on its first try,
//                      anything else 200
// POST /3/device/TOKEN needs an ES256 provider token (kid, iss, fresh iat)
//                      that verifies with the APNs public key and the apns-*
//                      headers; "apns-gone" 410 Unregistered, else 200
'use strict';
const fs = require('fs');
const http2 = require('http2');
const crypto = require('crypto');

const [portFile, certFile, keyFile, pubFile, apnsPubFile, logFile] = process.argv.slice(2);
const publicKey = crypto.createPublicKey(fs.readFileSync(pubFile));
const apnsKey = crypto.createPublicKey(fs.readFileSync(apnsPubFile));

function checkProviderToken(auth) {
  const m = /^bearer (.+)$/.exec(auth || '');
  if (!m) return 'no bearer token';
  const parts = m[1].split('.');
  if (parts.length !== 3) return 'not a JWT';
  const header = JSON.parse(b64(parts[0]).toString());
  const claims = JSON.parse(b64(parts[1]).toString());
  if (header.alg !== 'ES256' || !header.kid || header.kid.length !== 10) return 'header ' + JSON.stringify(header);
  const ok = crypto.verify('sha256', Buffer.from(parts[0] + '.' + parts[1]),
                           {key: apnsKey, dsaEncoding: 'ieee-p1363'}, b64(parts[2]));
  if (!ok) return 'bad signature';
  if (!claims.iss || claims.iss.length !== 10) return 'iss ' + claims.iss;
  if (Math.abs(claims.iat - Date.now() / 1000) > 3600) return 'stale iat';
  return '';
}
const seen = {};
const log = (entry) => fs.appendFileSync(logFile, JSON.stringify(entry) + '\n');
const b64 = (s) => Buffer.from(s, 'base64url');

function checkAssertion(jwt, aud) {
  const parts = (jwt || '').split('.');
  if (parts.length !== 3) return 'not a JWT';
  const header = JSON.parse(b64(parts[0]).toString());
  const claims = JSON.parse(b64(parts[1]).toString());
  if (header.alg !== 'RS256') return 'alg ' + header.alg;
  const ok = crypto.verify('sha256', Buffer.from(parts[0] + '.' + parts[1]), publicKey, b64(parts[2]));
  if (!ok) return 'bad signature';
  if (claims.scope !== 'https://www.googleapis.com/auth/firebase.messaging') return 'scope ' + claims.scope;
  if (claims.aud !== aud) return 'aud ' + claims.aud;
  if (claims.exp - claims.iat !== 3600 || Math.abs(claims.iat - Date.now() / 1000) > 300) return 'iat/exp';
  if (!claims.iss) return 'no iss';
  return '';
}

const server = http2.createSecureServer({cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile)});
server.on('stream', (stream, headers) => {
  let body = '';
  stream.on('data', (d) => (body += d));
  stream.on('end', () => {
    const path = headers[':path'];
    const reply = (status, json, extra = {}) => {
      stream.respond({':status': status, 'content-type': 'application/json', ...extra});
      stream.end(JSON.stringify(json));
    };
    if (path === '/token') {
      const form = new URLSearchParams(body);
      const port = server.address().port;
      const why = form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer'
        ? 'grant_type ' + form.get('grant_type')
        : checkAssertion(form.get('assertion'), `https://127.0.0.1:${port}/token`);
      log({path, ok: why === '', why});
      if (why) return reply(400, {error: 'invalid_grant', error_description: why});
      return reply(200, {access_token: 'at-1', expires_in: 3600, token_type: 'Bearer'});
    }
    if (path.startsWith('/3/device/')) {
      const token = path.slice('/3/device/'.length);
      const why = checkProviderToken(headers['authorization']);
      let payload = {};
      try { payload = JSON.parse(body); } catch (e) { /* logged as is */ }
      log({path, apns: true, token, why, topic: headers['apns-topic'], push_type: headers['apns-push-type'],
           collapse_id: headers['apns-collapse-id'], priority: headers['apns-priority'], payload});
      if (why) return reply(403, {reason: 'InvalidProviderToken'});
      if (!headers['apns-topic'] || headers['apns-push-type'] !== 'alert') return reply(400, {reason: 'MissingTopic'});
      if (token === 'apns-gone') return reply(410, {reason: 'Unregistered', timestamp: Date.now()});
      stream.respond({':status': 200, 'apns-id': crypto.randomUUID()});
      return stream.end();
    }
    let message = {};
    try { message = JSON.parse(body).message || {}; } catch (e) { /* logged as is */ }
    const auth = headers['authorization'];
    log({path, auth, http2: true, message});
    if (auth !== 'Bearer at-1') return reply(401, {error: {status: 'UNAUTHENTICATED'}});
    if (!/^\/v1\/projects\/[^/]+\/messages:send$/.test(path)) return reply(404, {error: {status: 'NOT_FOUND'}});
    if (message.token === 'tok-gone')
      return reply(404, {error: {status: 'NOT_FOUND', details: [{errorCode: 'UNREGISTERED'}]}});
    if (message.token === 'tok-busy' && !seen[message.token]) {
      seen[message.token] = true;
      return reply(429, {error: {status: 'RESOURCE_EXHAUSTED'}}, {'retry-after': '1'});
    }
    return reply(200, {name: 'projects/p/messages/' + Date.now()});
  });
});
server.listen(0, '127.0.0.1', () => fs.writeFileSync(portFile, String(server.address().port)));
