// Written by stator for --node (loaded with NODE_OPTIONS=--require). It tells stator which files this program
// loads, so that editing any of them restarts it: every file require() resolves (before it runs, so a file with a
// syntax error is reported too), and require.cache once a second and at exit. ES modules are not seen.
//
// Protocol: append absolute paths, one per line, to the file named by $STATOR_WATCH_FILE.
// Nothing here may break the program: every step is guarded.
'use strict';
(function () {
  const target = process.env.STATOR_WATCH_FILE;
  const flag = Symbol.for('stator.hook');
  if (!target || process[flag]) return;
  let fs, path, Module;
  try {
    fs = require('fs');
    path = require('path');
    Module = require('module');
    process[flag] = true;
  } catch (e) {
    return;
  }
  // Every path already in the file, from this run or an earlier one: written once, ever.
  const seen = new Set();
  try {
    for (const line of fs.readFileSync(target, 'utf8').split('\n')) seen.add(line);
  } catch (e) {}
  function report(files) {
    let out = '';
    for (const f of files) {
      if (typeof f !== 'string' || !path.isAbsolute(f) || f.includes('\n') || seen.has(f)) continue;
      seen.add(f);
      out += f + '\n';
    }
    if (out) {
      try {
        fs.appendFileSync(target, out);
      } catch (e) {}
    }
  }
  function walk() {
    try {
      report(Object.keys(require.cache));
    } catch (e) {}
  }
  try {
    const resolve = Module._resolveFilename;
    if (typeof resolve === 'function') {
      Module._resolveFilename = function () {
        const file = resolve.apply(this, arguments);
        try {
          report([file]);
        } catch (e) {}
        return file;
      };
    }
  } catch (e) {}
  try {
    const timer = setInterval(walk, 1000);
    if (timer && timer.unref) timer.unref();
    process.on('exit', walk);
  } catch (e) {}
})();
