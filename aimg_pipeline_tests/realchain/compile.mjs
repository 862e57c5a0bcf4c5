// Compiles contracts/*.sol with the pinned solcjs (npm `solc`) and writes, for every contract
// defined there, {abi, bytecode} to the JSON file named by argv[2]. Imports resolve from this
// package's node_modules (OpenZeppelin). Called by driver.py, which caches the output.
import { createRequire } from "node:module";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const solc = require("solc");
const here = path.dirname(fileURLToPath(import.meta.url));
const out = process.argv[2];
if (!out) throw new Error("usage: node compile.mjs OUTPUT.json");

const sources = {};
for (const name of fs.readdirSync(path.join(here, "contracts")).sort()) {
  if (name.endsWith(".sol")) {
    sources[`contracts/${name}`] = { content: fs.readFileSync(path.join(here, "contracts", name), "utf8") };
  }
}
const input = {
  language: "Solidity",
  sources,
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: "cancun",
    outputSelection: Object.fromEntries(
      Object.keys(sources).map((f) => [f, { "*": ["abi", "evm.bytecode.object"] }])),
  },
};
function findImports(importPath) {
  const resolved = path.join(here, "node_modules", importPath);
  if (!resolved.startsWith(path.join(here, "node_modules"))) return { error: `outside: ${importPath}` };
  try {
    return { contents: fs.readFileSync(resolved, "utf8") };
  } catch (err) {
    return { error: `${importPath}: ${err.message}` };
  }
}
const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
const errors = (output.errors || []).filter((e) => e.severity === "error");
if (!output.contracts && !errors.length) {
  errors.push(...(output.errors || [{ formattedMessage: "solc produced no contracts" }]));
}
if (errors.length) {
  for (const e of errors) console.error(e.formattedMessage);
  process.exit(1);
}
const result = { solc: solc.version(), contracts: {} };
for (const [file, contracts] of Object.entries(output.contracts)) {
  for (const [name, c] of Object.entries(contracts)) {
    if (!file.startsWith("contracts/")) continue;
    result.contracts[name] = { abi: c.abi, bytecode: "0x" + c.evm.bytecode.object };
  }
}
fs.writeFileSync(out + ".tmp", JSON.stringify(result));
fs.renameSync(out + ".tmp", out);
