// Independent check of a Safe Transaction Builder batch file (safe-tx.json), written from
// the Transaction Builder's own sources (safe-global/safe-react-apps, apps/tx-builder:
// typings/models.ts for the fields, lib/checksum.ts for the checksum) and sharing nothing
// with aimg_pipeline.
//
// Usage: node safe_batch_check.mjs BATCH.json ABIS.json
//   ABIS.json: {"<address lowercase>": <the contract's ABI array>, ...}
// Output: {"ok": bool, "errors": [...], "calls": [{"to", "signature", "selector", "args"}]}
import { readFileSync } from 'node:fs';
import { keccak256 } from 'ethereum-cryptography/keccak.js';
import { utf8ToBytes, bytesToHex } from 'ethereum-cryptography/utils.js';

const batch = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const abis = JSON.parse(readFileSync(process.argv[3], 'utf8'));
const errors = [];
const fail = (m) => errors.push(m);

// lib/checksum.ts, as the builder runs it on import (validateChecksum)
const stringifyReplacer = (_, value) => (value === undefined ? null : value);
const serializeJSONObject = (json) => {
  if (Array.isArray(json)) return `[${json.map((el) => serializeJSONObject(el)).join(',')}]`;
  if (typeof json === 'object' && json !== null) {
    let acc = '';
    const keys = Object.keys(json).sort();
    acc += `{${JSON.stringify(keys, stringifyReplacer)}`;
    for (let i = 0; i < keys.length; i++) acc += `${serializeJSONObject(json[keys[i]])},`;
    return `${acc}}`;
  }
  return `${JSON.stringify(json, stringifyReplacer)}`;
};
const calculateChecksum = (batchFile) =>
  '0x' + bytesToHex(keccak256(utf8ToBytes(serializeJSONObject({
    ...batchFile, meta: { ...batchFile.meta, name: null } }))));
const validateChecksum = (batchFile) => {
  const target = { ...batchFile, meta: { ...batchFile.meta } };
  const checksum = target.meta.checksum;
  delete target.meta.checksum;
  return calculateChecksum(target) === checksum;
};

const isAddress = (v) => typeof v === 'string' && /^0x[0-9a-fA-F]{40}$/.test(v);
const sameKeys = (obj, keys, where) => {
  const got = Object.keys(obj ?? {}).sort().join(',');
  if (got !== [...keys].sort().join(',')) fail(`${where}: keys ${got}, expected ${[...keys].sort()}`);
};

sameKeys(batch, ['version', 'chainId', 'createdAt', 'meta', 'transactions'], 'batch');
if (batch.version !== '1.0') fail(`version ${JSON.stringify(batch.version)}`);
if (typeof batch.chainId !== 'string' || !/^[1-9][0-9]*$/.test(batch.chainId)) fail('chainId');
if (!Number.isSafeInteger(batch.createdAt) || batch.createdAt <= 0) fail('createdAt');
const meta = batch.meta ?? {};
for (const k of ['name', 'description', 'txBuilderVersion', 'createdFromOwnerAddress', 'checksum']) {
  if (typeof meta[k] !== 'string') fail(`meta.${k} is not a string`);
}
if (!isAddress(meta.createdFromSafeAddress)) fail('meta.createdFromSafeAddress');
if (!validateChecksum(batch)) fail('meta.checksum does not match the Transaction Builder checksum');
if (!Array.isArray(batch.transactions) || batch.transactions.length === 0) fail('no transactions');

const calls = [];
for (const [i, tx] of (batch.transactions ?? []).entries()) {
  const where = `transactions[${i}]`;
  sameKeys(tx, ['to', 'value', 'data', 'contractMethod', 'contractInputsValues'], where);
  if (!isAddress(tx.to)) fail(`${where}.to`);
  if (tx.value !== '0') fail(`${where}.value ${JSON.stringify(tx.value)} (a token call sends no ETH)`);
  if (tx.data !== null) fail(`${where}.data must be null: the builder encodes contractMethod`);
  const method = tx.contractMethod ?? {};
  sameKeys(method, ['inputs', 'name', 'payable'], `${where}.contractMethod`);
  if (method.payable !== false) fail(`${where}.contractMethod.payable`);
  const inputs = method.inputs ?? [];
  for (const input of inputs) sameKeys(input, ['internalType', 'name', 'type'], `${where} input`);
  const values = tx.contractInputsValues ?? {};
  sameKeys(values, inputs.map((x) => x.name), `${where}.contractInputsValues`);
  for (const input of inputs) {
    const v = values[input.name];
    const ok = typeof v === 'string' && (
      input.type === 'address' ? isAddress(v)
      : input.type === 'bytes32' ? /^0x[0-9a-fA-F]{64}$/.test(v)
      : input.type === 'uint256' ? /^(0|[1-9][0-9]*)$/.test(v) && BigInt(v) < 2n ** 256n
      : false);
    if (!ok) fail(`${where}: ${input.name} = ${JSON.stringify(v)} is not a ${input.type}`);
  }
  const signature = `${method.name}(${inputs.map((x) => x.type).join(',')})`;
  const abi = abis[(tx.to ?? '').toLowerCase()];
  const fn = (abi ?? []).find((f) => f.type === 'function' && f.name === method.name
    && f.inputs.map((x) => x.type).join(',') === inputs.map((x) => x.type).join(','));
  if (!fn) fail(`${where}: ${signature} is not a function of ${tx.to}`);
  else if (!['nonpayable', 'payable'].includes(fn.stateMutability)) fail(`${where}: ${signature} is ${fn.stateMutability}`);
  calls.push({ to: tx.to, signature,
    selector: '0x' + bytesToHex(keccak256(utf8ToBytes(signature))).slice(0, 8),
    args: inputs.map((x) => values[x.name]) });
}
process.stdout.write(JSON.stringify({ ok: errors.length === 0, errors, calls }) + '\n');
