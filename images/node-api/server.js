// node-api: a tiny HTTP service with a health endpoint and graceful shutdown.
'use strict';
const http = require('http');

const port = Number(process.env.PORT || 3000);
const version = process.env.APP_VERSION || require('./package.json').version;
const started = Date.now();

const server = http.createServer((req, res) => {
  if (req.url === '/healthz') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok\n');
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ service: 'node-api', version, pid: process.pid, uptime_ms: Date.now() - started }) + '\n');
});

server.listen(port, () => console.log(`node-api ${version} listening on :${port}`));

// Finish in-flight requests on SIGTERM, then exit: what a rollout relies on.
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    console.log(`${sig}: draining`);
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 5000).unref();
  });
}
