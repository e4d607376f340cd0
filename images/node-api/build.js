// The "build" step of the multi-stage example: bundles server.js into dist/.
'use strict';
const fs = require('fs');
fs.mkdirSync('dist', { recursive: true });
fs.copyFileSync('server.js', 'dist/server.js');
fs.copyFileSync('package.json', 'dist/package.json');
console.log('built dist/');
