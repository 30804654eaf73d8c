// An SMTP sink for tests: speaks enough SMTP (RFC 5321) for libcurl to send
// a message, and logs each one as a JSON line {from, to, data}.
//
//   node fake_smtp.js PORT_FILE LOG
'use strict';
const fs = require('fs');
const net = require('net');

const [portFile, logFile] = process.argv.slice(2);

const server = net.createServer((socket) => {
  let buffer = '';
  let inData = false;
  let mail = {from: '', to: [], data: ''};
  const say = (line) => socket.write(line + '\r\n');
  say('220 fake-smtp ready');
  socket.on('data', (chunk) => {
    buffer += chunk.toString('utf8');
    for (;;) {
      if (inData) {
        const end = buffer.indexOf('\r\n.\r\n');
        if (end < 0) return;
        mail.data = buffer.slice(0, end).replace(/\r\n\.\./g, '\r\n.');
        buffer = buffer.slice(end + 5);
        inData = false;
        fs.appendFileSync(logFile, JSON.stringify(mail) + '\n');
        mail = {from: '', to: [], data: ''};
        say('250 queued');
        continue;
      }
      const eol = buffer.indexOf('\r\n');
      if (eol < 0) return;
      const line = buffer.slice(0, eol);
      buffer = buffer.slice(eol + 2);
      const verb = line.slice(0, 4).toUpperCase();
      if (verb === 'EHLO' || verb === 'HELO') say('250 fake-smtp');
      else if (verb === 'MAIL') { mail.from = line.slice(10).replace(/[<>]/g, ''); say('250 ok'); }
      else if (verb === 'RCPT') { mail.to.push(line.slice(8).replace(/[<>]/g, '')); say('250 ok'); }
      else if (verb === 'DATA') { inData = true; say('354 go ahead'); }
      else if (verb === 'QUIT') { say('221 bye'); socket.end(); }
      else if (verb === 'RSET' || verb === 'NOOP') say('250 ok');
      else say('502 not implemented');
    }
  });
});
server.listen(0, '127.0.0.1', () => fs.writeFileSync(portFile, String(server.address().port)));
