#!/usr/bin/env node
// The `coder-convex` command of the npm package: finds the native binary that npm or pnpm
// installed from this platform's optional dependency (`coder-convex-<os>-<cpu>`) and runs it
// with the same arguments, standard streams, signals and exit status. No install script: the
// package manager picks the platform package by its `os`/`cpu`/`libc` fields, which works
// where dependency scripts are off (pnpm >= 10) and where only the registry is reachable.
"use strict";

const { spawn } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const self = require("../package.json");

// Set to run another binary (a local build, a distro package) through this launcher.
const BINARY_VAR = "CODER_CONVEX_BINARY";

function fail(lines) {
  process.stderr.write(lines.map((l) => `coder-convex: ${l}\n`).join(""));
  process.exit(1);
}

function isMusl() {
  if (process.platform !== "linux") return false;
  const report = process.report && process.report.getReport();
  return !(report && report.header && report.header.glibcVersionRuntime);
}

function platformPackage() {
  const suffix = `${process.platform}-${process.arch}${isMusl() ? "-musl" : ""}`;
  return { suffix, name: `${self.name}-${suffix}` };
}

// Set by a launcher in the environment of the binary it starts: the launcher's pid. A launcher
// whose parent is that pid was started *as the binary* (CODER_CONVEX_BINARY naming a launcher,
// e.g. `$(command -v coder-convex)` inside `npm run`): running on would recurse without end.
const MARKER_VAR = "CODER_CONVEX_LAUNCHER_PID";
// The same for a binary started with execve: it has the launcher's own pid.
const EXEC_MARKER_VAR = "CODER_CONVEX_LAUNCHER_EXEC";

function refuseLauncher(binary) {
  fail([
    `${BINARY_VAR}=${binary} is the npm launcher (this script), not the native binary:`,
    "running it would start this launcher again, without end.",
    `Point ${BINARY_VAR} at the native coder-convex binary (e.g. the one in`,
    "node_modules/coder-convex-<platform>/bin/), or unset it.",
  ]);
}

// A launcher, recognised before it runs: this very file, or a script whose first line runs
// node or that names coder-convex.js (pnpm's and npm's shims). The native binary is an
// executable, never a script.
function isLauncher(file) {
  let real;
  try {
    real = fs.realpathSync(file);
  } catch {
    return false;
  }
  if (real === fs.realpathSync(__filename)) return true;
  let head = "";
  try {
    const fd = fs.openSync(real, "r");
    const buf = Buffer.alloc(4096);
    const n = fs.readSync(fd, buf, 0, buf.length, 0);
    fs.closeSync(fd);
    head = buf.subarray(0, n).toString("latin1");
  } catch {
    return false;
  }
  if (!head.startsWith("#!")) return false;
  const firstLine = head.split("\n", 1)[0];
  return /\bnode\b/.test(firstLine) || head.includes("coder-convex.js");
}

function findBinary() {
  const fromEnv = process.env[BINARY_VAR];
  if (fromEnv) {
    if (!fs.existsSync(fromEnv)) fail([`${BINARY_VAR}=${fromEnv} does not exist.`]);
    if (isLauncher(fromEnv)) refuseLauncher(fromEnv);
    return fromEnv;
  }
  const { suffix, name } = platformPackage();
  const optional = self.optionalDependencies || {};
  if (!(name in optional)) {
    fail([
      `no prebuilt binary for ${suffix} in ${self.name} ${self.version}`,
      `(packages: ${Object.keys(optional).join(", ") || "none"}).`,
      `Build it instead: cargo install --locked coder-convex@${self.version}`,
      `then run it directly, or set ${BINARY_VAR} to its path.`,
    ]);
  }
  let dir;
  try {
    dir = path.dirname(require.resolve(`${name}/package.json`));
  } catch {
    fail([
      `the platform package ${name}@${optional[name]} is not installed, so there is no binary to run.`,
      "npm skips optional dependencies when package-lock.json or node_modules came from another",
      "platform or were installed with --omit=optional (npm bug https://github.com/npm/cli/issues/4828).",
      "Fix it with one of:",
      "  rm -rf node_modules package-lock.json && npm install",
      "  npm install --include=optional",
      "(pnpm: pnpm install --force; yarn: rm -rf node_modules && yarn install)",
      `or set ${BINARY_VAR} to the path of a coder-convex binary.`,
    ]);
  }
  const binary = path.join(dir, "bin", "coder-convex");
  if (!fs.existsSync(binary)) fail([`${name} is installed but has no ${binary}; reinstall it.`]);
  return binary;
}

// Node decodes argv and the environment as UTF-8 and cannot hand raw bytes to a child: a byte
// sequence that is not UTF-8 would reach the binary as U+FFFD. Refuse instead of changing an
// argument or a variable behind the user's back (Linux, where /proc shows the raw bytes).
function checkRawBytes(binary) {
  const invalid = (bytes) => !Buffer.from(bytes.toString("utf8"), "utf8").equals(bytes);
  const entries = (file) => {
    try {
      const raw = fs.readFileSync(file);
      const out = [];
      let start = 0;
      for (let i = 0; i < raw.length; i++) {
        if (raw[i] === 0) {
          out.push(raw.subarray(start, i));
          start = i + 1;
        }
      }
      return out;
    } catch {
      return [];
    }
  };
  const args = entries("/proc/self/cmdline");
  // node, this script, then the user's arguments.
  const bad = args.slice(2).findIndex(invalid);
  const vars = entries("/proc/self/environ")
    .filter(invalid)
    .map((e) => e.subarray(0, Math.max(e.indexOf(0x3d), 0)).toString("latin1"));
  if (bad >= 0 || vars.length > 0) {
    fail([
      bad >= 0
        ? `argument ${bad + 1} is not valid UTF-8, and Node (this launcher) cannot pass it on unchanged.`
        : `the environment variable${vars.length > 1 ? "s" : ""} ${vars.join(", ")} ${vars.length > 1 ? "are" : "is"} not valid UTF-8, and Node (this launcher) cannot pass ${vars.length > 1 ? "them" : "it"} on unchanged.`,
      `Run the native binary directly, which takes any bytes: ${binary}`,
    ]);
  }
}

// True when this process is in the foreground process group of its terminal: a Ctrl-C (SIGINT),
// Ctrl-\ (SIGQUIT) or hangup (SIGHUP) from the terminal then reaches the whole group, the binary
// included, and forwarding it would deliver it twice.
function inTerminalForeground() {
  try {
    const stat = fs.readFileSync("/proc/self/stat", "latin1");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const pgrp = Number(fields[2]);
    const tpgid = Number(fields[5]);
    return tpgid > 0 && tpgid === pgrp;
  } catch {
    return false;
  }
}

// Signals whose re-raising would not end this process the way it ended the binary: in Node,
// SIGUSR1 starts the inspector (a debugger on 127.0.0.1:9229).
const NOT_RERAISED = new Set(["SIGUSR1"]);

function run(binary) {
  checkRawBytes(binary);
  const env = { ...process.env };
  delete env[MARKER_VAR];
  delete env[EXEC_MARKER_VAR];
  // Closest to exec: Node >= 22.15 replaces this process with the binary (same pid, the
  // signals, the exit status), nothing left to forward.
  if (typeof process.execve === "function") {
    try {
      process.execve(binary, [binary, ...process.argv.slice(2)], {
        ...env,
        [EXEC_MARKER_VAR]: String(process.pid),
      });
    } catch {
      // Fall back to a child process (e.g. a platform without execve).
    }
  }
  env[MARKER_VAR] = String(process.pid);
  const child = spawn(binary, process.argv.slice(2), { stdio: "inherit", env });
  // SIGTERM comes from `kill`, a supervisor or Coder stopping the script, sent to this process:
  // forwarded. The terminal's signals reach the binary by themselves when both are in the
  // terminal's foreground group; forwarded otherwise.
  const forwarded = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"];
  const fromTerminal = new Set(["SIGINT", "SIGHUP", "SIGQUIT"]);
  const forward = (signal) => {
    if (fromTerminal.has(signal) && inTerminalForeground()) return;
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  for (const signal of forwarded) process.on(signal, forward);

  child.on("error", (err) => {
    fail([`cannot run ${binary}: ${err.message}`]);
  });
  child.on("exit", (code, signal) => {
    for (const s of forwarded) process.removeListener(s, forward);
    if (signal) {
      const status = 128 + (os.constants.signals[signal] || 0);
      if (NOT_RERAISED.has(signal)) process.exit(status);
      // Die of the same signal, so our parent sees what it would have seen without us.
      process.kill(process.pid, signal);
      // Signals whose default action is not to terminate: exit the way a shell reports it.
      setTimeout(() => process.exit(status), 100);
      return;
    }
    process.exit(code);
  });
}

// Started by a launcher as its binary: refuse before anything else.
if (
  process.env[MARKER_VAR] === String(process.ppid) ||
  process.env[EXEC_MARKER_VAR] === String(process.pid)
) {
  refuseLauncher(process.env[BINARY_VAR] || process.argv[1]);
}
run(findBinary());
