// A local S3-compatible server for the media service's tests: s3rver
// (npm, tests/s3/) behind a front that checks AWS Signature Version 4 on
// every request — s3rver itself only checks that the access key exists and
// takes any V4 signature (its lib/middleware/authentication.js: "Signature
// version 4 calculation is unimplemented"), so without this front a wrong
// signature would pass. Each request is logged as one JSON line: method,
// path, the Authorization scheme, and whether the signature verified.
//
//   node fake_s3.js PORT_FILE DATA_DIR BUCKET LOG
//
// Credentials: access key S3RVER, secret S3RVER (s3rver's default account),
// region us-east-1. A request whose signature does not verify gets 403
// SignatureDoesNotMatch and never reaches s3rver.
'use strict';
const fs = require('fs');
const http = require('http');
const crypto = require('crypto');
const S3rver = require('s3rver');

const [portFile, dataDir, bucket, logFile] = process.argv.slice(2);
const SECRET = 'S3RVER';
const log = fs.createWriteStream(logFile, {flags: 'a'});

const hmac = (key, text) => crypto.createHmac('sha256', key).update(text).digest();
const sha256 = text => crypto.createHash('sha256').update(text).digest('hex');
const encode = s => encodeURIComponent(s).replace(/[!'()*]/g, c => '%' + c.charCodeAt(0).toString(16).toUpperCase());

// Returns '' when the request's SigV4 Authorization header verifies, else why not.
function verify(req) {
  const auth = req.headers['authorization'] || '';
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return 'not a SigV4 header: ' + auth.split(' ')[0];
  const [, accessKey, date, region, signedHeaders, signature] = m;
  if (accessKey !== 'S3RVER') return 'unknown access key';
  const amzDate = req.headers['x-amz-date'] || '';
  if (!amzDate.startsWith(date)) return 'x-amz-date does not match the scope';
  const names = signedHeaders.split(';');
  if (!names.includes('host') || !names.includes('x-amz-date')) return 'host and x-amz-date must be signed';
  const payload = req.headers['x-amz-content-sha256'];
  if (!payload) return 'no x-amz-content-sha256';
  const url = new URL(req.url, 'http://x');
  const canonicalUri = url.pathname.split('/').map(p => encode(decodeURIComponent(p))).join('/');
  const query = [...url.searchParams.entries()].map(([k, v]) => [encode(k), encode(v)])
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : 1))
    .map(([k, v]) => k + '=' + v).join('&');
  const headers = names.map(n => n + ':' + String(req.headers[n] ?? '').trim().replace(/\s+/g, ' ') + '\n').join('');
  const canonical = [req.method, canonicalUri, query, headers, signedHeaders, payload].join('\n');
  const scope = `${date}/${region}/s3/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonical)].join('\n');
  const key = hmac(hmac(hmac(hmac('AWS4' + SECRET, date), region), 's3'), 'aws4_request');
  const expected = crypto.createHmac('sha256', key).update(toSign).digest('hex');
  return expected === signature ? '' : 'signature does not match';
}

(async () => {
  const s3 = new S3rver({directory: dataDir, silent: true, configureBuckets: [{name: bucket}]});
  await s3.configureBuckets();
  const handle = s3.callback();
  const server = http.createServer((req, res) => {
    const why = verify(req);
    log.write(JSON.stringify({method: req.method, path: req.url,
                              scheme: (req.headers['authorization'] || '').split(' ')[0],
                              payload: req.headers['x-amz-content-sha256'] || '',
                              verified: why === '', why}) + '\n');
    if (why) {
      res.writeHead(403, {'content-type': 'application/xml'});
      res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SignatureDoesNotMatch</Code><Message>${why}</Message></Error>`);
      return;
    }
    handle(req, res);
  });
  server.listen(0, '127.0.0.1', () => fs.writeFileSync(portFile, String(server.address().port)));
})().catch(e => { console.error(e); process.exit(1); });
