// Loaded into jsii's Node kernel before the kernel itself (`node --require`), by app.py's
// direct kernel channel (app.talk_to_jsii_directly). Two things, both about not redoing work
// that the previous synth already did; docs/performance.md has the figures.
//
// 1. Node's compile cache for the packages the kernel loads (aws-cdk-lib, constructs, ...).
//    The cache is keyed by file path. Under --preserve-symlinks, the flag jsii starts the
//    kernel with, every module's path runs through the kernel's new `jsii-kernel-XXXXXX`
//    directory, so no entry was ever found again. Without the flag Node loads each package
//    from its real path in jsii's package cache, the same on every run. jsii must still link
//    packages into its directory by symlink, as it does under that flag (otherwise it
//    hard-links every file, ~1 s), so the flag is added to what jsii reads (process.execArgv)
//    but not given to Node; and a package's own dependencies (aws-cdk-lib's `constructs`)
//    resolve through that directory as NODE_PATH, which gives the very module instances the
//    kernel loaded. The cache starts with the first package, so the kernel's own program.js
//    (in a new temporary directory every run) is never written to it; and it stays off when
//    jsii's package cache is off (then every run extracts the packages to new paths).
//    The directory is PLATFORM_NODE_COMPILE_CACHE, a private one app.py picks
//    (app.compile_cache_directory); without it there is no cache and no warm-up list.
//
// 2. Warm-up (PLATFORM_KERNEL_WARMUP=<key>, set by app.py for the app and the bench's floor).
//    aws-cdk-lib loads each of its modules on first use, so the first stack of each kind waits
//    for Node to load dozens of files, while Python, a moment earlier, spent ~0.5 s importing its
//    own side of the same modules with the kernel idle. At exit the kernel writes the package
//    files it loaded, in order, to <compile cache>/platform-kernel-warmup/<key>.json; the next
//    run with the same key loads them whenever it would otherwise wait for Python: app.py makes
//    the request channel (fd 3) non-blocking until its imports are done, and each read that
//    finds no request loads one more file instead. Only files inside the packages jsii has
//    linked into the kernel's directory are loaded, whatever the list says. Lists that no run
//    has rewritten for 30 days (programs run from clones deleted since) are removed.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const Module = require('node:module');

process.execArgv.push('--preserve-symlinks');

const REQUEST_FD = 3;
const STALE_LIST_MS = 30 * 24 * 3600 * 1000;
const warmupKey = /^[0-9a-f]{16,64}$/.test(process.env.PLATFORM_KERNEL_WARMUP || '')
  ? process.env.PLATFORM_KERNEL_WARMUP
  : undefined;
let kernelModules; // <kernel dir>/node_modules, once jsii has created it
let warmupFile;
let warmupQueue = [];

const mkdtempSync = fs.mkdtempSync;
fs.mkdtempSync = function (prefix, options) {
  const dir = mkdtempSync.call(fs, prefix, options);
  if (kernelModules === undefined && path.basename(String(prefix)) === 'jsii-kernel-') {
    kernelModules = path.join(dir, 'node_modules');
    const nodePath = process.env.NODE_PATH;
    process.env.NODE_PATH = kernelModules;
    Module._initPaths();
    if (nodePath === undefined) delete process.env.NODE_PATH;
    else process.env.NODE_PATH = nodePath;
    const packageCache = (process.env.JSII_RUNTIME_PACKAGE_CACHE || 'enabled').toLowerCase() === 'enabled';
    const cacheDir = process.env.PLATFORM_NODE_COMPILE_CACHE;
    if (cacheDir && packageCache && typeof Module.enableCompileCache === 'function') {
      const { directory } = Module.enableCompileCache(cacheDir);
      if (directory && warmupKey) startWarmup(path.join(directory, 'platform-kernel-warmup', `${warmupKey}.json`));
    }
  }
  return dir;
};

// The real paths of the packages jsii has linked so far: the only places warm-up loads from.
function linkedPackages() {
  const roots = [];
  for (const entry of fs.readdirSync(kernelModules, { withFileTypes: true })) {
    const names = entry.name.startsWith('@')
      ? fs.readdirSync(path.join(kernelModules, entry.name)).map((n) => path.join(entry.name, n))
      : [entry.name];
    for (const name of names) roots.push(fs.realpathSync(path.join(kernelModules, name)) + path.sep);
  }
  return roots;
}

function startWarmup(file) {
  warmupFile = file;
  try {
    const listed = JSON.parse(fs.readFileSync(file, 'utf8'));
    if (Array.isArray(listed)) warmupQueue = listed.filter((f) => typeof f === 'string' && f.endsWith('.js'));
  } catch {
    warmupQueue = []; // first run with this key, or an unreadable list: the next run has one
  }
  process.on('exit', saveWarmupList);
}

// Loads the next listed file that lies in a linked package; false when there is nothing to do yet.
// Python loads aws-cdk-lib last, after its dependencies, so once it is linked the linked packages
// are known for good; an entry outside them (a file of an older package version) is dropped.
let roots; // real paths of the linked packages, read once aws-cdk-lib is linked
function warmUpOne() {
  if (roots === undefined) {
    if (kernelModules === undefined || !fs.existsSync(path.join(kernelModules, 'aws-cdk-lib'))) return false;
    roots = linkedPackages();
  }
  while (warmupQueue.length > 0) {
    const file = warmupQueue.shift();
    if (!roots.some((root) => file.startsWith(root))) continue;
    try {
      require(file);
    } catch {
      // loaded again on demand, where the error surfaces as it would have without warm-up
    }
    return true;
  }
  return false;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
const readSync = fs.readSync;
fs.readSync = function (fd, ...rest) {
  // With a warm-up key app.py made the channel non-blocking, with or without a list to load.
  if (fd !== REQUEST_FD || warmupKey === undefined) return readSync.call(fs, fd, ...rest);
  for (;;) {
    try {
      return readSync.call(fs, fd, ...rest);
    } catch (error) {
      if (error.code !== 'EAGAIN') throw error;
    }
    // No request yet: Python is still importing. Load a file, or wait a fifth of a millisecond.
    if (!warmUpOne()) Atomics.wait(sleeper, 0, 0, 0.2);
  }
};

function saveWarmupList() {
  try {
    const packages = linkedPackages();
    const loaded = Object.keys(require.cache).filter((f) => f.endsWith('.js') && packages.some((root) => f.startsWith(root)));
    const dir = path.dirname(warmupFile);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const partial = `${warmupFile}.${process.pid}`;
    fs.writeFileSync(partial, JSON.stringify(loaded), { mode: 0o600 });
    fs.renameSync(partial, warmupFile);
    // One list per program and directory: drop those no program has written for 30 days.
    for (const name of fs.readdirSync(dir)) {
      const file = path.join(dir, name);
      if (Date.now() - fs.statSync(file).mtimeMs > STALE_LIST_MS) fs.rmSync(file, { force: true });
    }
  } catch {
    // a read-only or full cache directory costs the next run its warm-up, nothing else
  }
}
