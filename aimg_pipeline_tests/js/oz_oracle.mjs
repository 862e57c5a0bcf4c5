// Reference oracle for aimg_pipeline.lib.merkle: runs the real @openzeppelin/merkle-tree
// (pinned in package.json) so the Python tests can compare against it byte for byte.
//
// Usage: node oz_oracle.mjs <mode> [input.json]   (input from stdin when no file is given)
//
//   build   input: {"trees": [[[address, amountDecimalString], ...], ...]}
//           output: {"results": [{"root", "dump", "proofs"}, ...]}   (proofs in value order)
//   verify  input: {"cases": [{"dump": <standard-v1 dump>, "proofs": [[hex, ...], ...]}, ...]}
//           Loads each dump with StandardMerkleTree.load (which validates it), then checks every
//           given proof with both tree.verify(i, proof) and the static
//           StandardMerkleTree.verify(root, encoding, value, proof), and that the proof equals
//           OZ's own getProof(i).
//           output: {"results": [{"ok": bool, "root", "errors": [...]}, ...]}
//   bench   input: {"values": [[address, amountDecimalString], ...]}
//           Times StandardMerkleTree.of + core.getProof for every value (JSON parsing
//           excluded), then the checked tree.getProof for every value.
//           output: {"n", "build_s", "proofs_s", "total_s", "checked_proofs_s",
//                    "checked_total_s", "same_proofs", "root"}

import { readFileSync } from 'node:fs';
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import { getProof as coreGetProof } from '@openzeppelin/merkle-tree/dist/core.js';

const ENCODING = ['address', 'uint256'];

function readInput(file) {
  return JSON.parse(readFileSync(file ?? 0, 'utf8'));
}

function build(input) {
  return {
    results: input.trees.map(values => {
      const tree = StandardMerkleTree.of(values, ENCODING);
      const proofs = values.map((_, i) => tree.getProof(i));
      return { root: tree.root, dump: tree.dump(), proofs };
    }),
  };
}

function verify(input) {
  return {
    results: input.cases.map(({ dump, proofs }) => {
      const errors = [];
      let root = null;
      try {
        const tree = StandardMerkleTree.load(dump);
        root = tree.root;
        if (proofs.length !== tree.length) {
          errors.push(`got ${proofs.length} proofs for ${tree.length} values`);
        }
        proofs.forEach((proof, i) => {
          const value = tree.at(i);
          if (!tree.verify(i, proof)) errors.push(`tree.verify rejected proof ${i}`);
          if (!StandardMerkleTree.verify(root, ENCODING, value, proof)) {
            errors.push(`StandardMerkleTree.verify rejected proof ${i}`);
          }
          if (JSON.stringify(tree.getProof(i)) !== JSON.stringify(proof)) {
            errors.push(`proof ${i} differs from OZ getProof`);
          }
        });
      } catch (e) {
        errors.push(`load failed: ${e.message}`);
      }
      return { ok: errors.length === 0, root, errors };
    }),
  };
}

function bench(input) {
  // Like for like with aimg_pipeline.lib.merkle (which builds the tree and every proof, and
  // checks nothing): StandardMerkleTree.of, then core.getProof on the tree for every leaf.
  // Then, separately, the public tree.getProof(i), which also re-hashes the value and
  // re-verifies each proof (OpenZeppelin's self-check): reported as checked_*.
  const values = input.values;
  const t0 = process.hrtime.bigint();
  const tree = StandardMerkleTree.of(values, ENCODING);
  const t1 = process.hrtime.bigint();
  const indices = values.map((_, i) => tree.values[i].treeIndex);
  const proofs = new Array(values.length);
  for (let i = 0; i < values.length; i++) proofs[i] = coreGetProof(tree.tree, indices[i]);
  const t2 = process.hrtime.bigint();
  const checked = new Array(values.length);
  for (let i = 0; i < values.length; i++) checked[i] = tree.getProof(i);
  const t3 = process.hrtime.bigint();
  const same = proofs.every((p, i) => p.length === checked[i].length
                                     && p.every((h, j) => h === checked[i][j]));
  const s = ns => Number(ns) / 1e9;
  return {
    n: values.length,
    build_s: s(t1 - t0),
    proofs_s: s(t2 - t1),
    total_s: s(t2 - t0),
    checked_proofs_s: s(t3 - t2),
    checked_total_s: s(t1 - t0) + s(t3 - t2),
    same_proofs: same,
    root: tree.root,
  };
}

const modes = { build, verify, bench };
const [mode, file] = process.argv.slice(2);
if (!(mode in modes)) {
  process.stderr.write(`usage: node oz_oracle.mjs <${Object.keys(modes).join('|')}> [input.json]\n`);
  process.exit(2);
}
process.stdout.write(JSON.stringify(modes[mode](readInput(file))) + '\n');
