#!/usr/bin/env node
// fake_s3.js MODE [ARGS] - a loopback HTTP server that fails the way S3 can,
// for the failure cases of tests/cli/test_s3.sh (s3rver itself cannot: it
// never checks a SigV4 signature, never answers 5xx, never hangs).
//
//   error STATUS CODE  answers every request with an S3 error document; like
//                      S3 it echoes the request's access key id (in the
//                      message too), which the client must not repeat
//   hang               reads the request and never answers
//   reset              closes the connection as soon as the body starts
//                      (or, without a body, once the request is read)
//   bad-etag           answers a PUT 200 with an ETag that is not the body's MD5
//
// Listens on 127.0.0.1, on a free port; prints "listening PORT" when ready.
'use strict';
const http = require('http');

const [mode, ...args] = process.argv.slice(2);
const modes = ['error', 'hang', 'reset', 'bad-etag'];
if (!modes.includes(mode) || (mode === 'error' && args.length !== 2)) {
  console.error('usage: fake_s3.js error STATUS CODE | hang | reset | bad-etag');
  process.exit(2);
}

// "AWS4-HMAC-SHA256 Credential=AKID/date/region/s3/aws4_request, ..." -> AKID
function accessKeyOf(req) {
  const m = /Credential=([^/]*)\//.exec(req.headers.authorization || '');
  return m ? m[1] : '';
}

function answer(req, res) {
  if (mode === 'hang') return;
  if (mode === 'reset') {
    req.socket.destroy(); // a request without a body
    return;
  }
  if (mode === 'bad-etag') {
    res.writeHead(200, { ETag: '"0123456789abcdef0123456789abcdef"' });
    res.end();
    return;
  }
  const [status, code] = args;
  const key = accessKeyOf(req);
  res.writeHead(Number(status), { 'Content-Type': 'application/xml' });
  res.end(
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error>' +
      `<Code>${code}</Code><Message>Refused the request signed by ${key} for ${req.headers.host}</Message>` +
      `<AWSAccessKeyId>${key}</AWSAccessKeyId><StringToSign>x</StringToSign></Error>`,
  );
}

const server = http.createServer((req, res) => {
  req.on('data', () => {
    if (mode === 'reset') req.socket.destroy();
  });
  req.on('end', () => answer(req, res));
});
server.listen(0, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
