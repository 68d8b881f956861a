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

function findBinary() {
  const fromEnv = process.env[BINARY_VAR];
  if (fromEnv) {
    if (!fs.existsSync(fromEnv)) fail([`${BINARY_VAR}=${fromEnv} does not exist.`]);
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

function run(binary) {
  const child = spawn(binary, process.argv.slice(2), { stdio: "inherit" });
  // Terminal signals reach the whole process group anyway; these come from `kill`, a
  // supervisor or Coder stopping the script, and must reach the binary, which cleans up.
  const forwarded = ["SIGINT", "SIGTERM", "SIGHUP"];
  const forward = (signal) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  for (const signal of forwarded) process.on(signal, forward);

  child.on("error", (err) => {
    fail([`cannot run ${binary}: ${err.message}`]);
  });
  child.on("exit", (code, signal) => {
    for (const s of forwarded) process.removeListener(s, forward);
    if (signal) {
      // Die of the same signal, so our parent sees what it would have seen without us.
      process.kill(process.pid, signal);
      // Signals whose default action is not to terminate: exit the way a shell reports it.
      setTimeout(() => process.exit(128 + (os.constants.signals[signal] || 0)), 100);
      return;
    }
    process.exit(code);
  });
}

run(findBinary());
