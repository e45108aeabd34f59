/**
 * docs/mixed-precision.md lists the ops of each autocast policy: the lists must be the declared
 * ones (declareOp's `autocast` option of every op the packages declare, and the Functions that
 * declare a policy), so that the guide cannot drift from the code.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { allOps } from '@kiln/tensor';
import '@kiln/autograd';
import '@kiln/optim';
import '@kiln/vision';
import { SigmoidFocalLossFunction } from '@kiln/losses';
import { repoRoot } from '../../../tools/snippet-blocks.mjs';

/** policy -> names in the guide's table (op names in backticks before any ';', Functions after 'the Function'). */
function guideLists(): Map<string, { ops: string[]; functions: string[] }> {
  const text = readFileSync(join(repoRoot, 'docs', 'mixed-precision.md'), 'utf8');
  const block = /<!-- autocast-policies -->\n([\s\S]*?)<!-- \/autocast-policies -->/.exec(text);
  if (!block) throw new Error('docs/mixed-precision.md has no <!-- autocast-policies --> block');
  const lists = new Map<string, { ops: string[]; functions: string[] }>();
  for (const line of block[1].split('\n')) {
    const m = /^\| (lower|float32|promote) \| (.*) \|$/.exec(line);
    if (!m) continue;
    const [opsPart, fnPart = ''] = m[2].split(';');
    const names = (s: string) => [...s.replace(/\(also[^)]*\)/g, '').matchAll(/`([\w]+)`/g)].map((x) => x[1]).sort();
    lists.set(m[1], { ops: names(opsPart), functions: names(fnPart) });
  }
  return lists;
}

it("the guide's policy lists are the declared ones", () => {
  const lists = guideLists();
  expect([...lists.keys()].sort()).toEqual(['float32', 'lower', 'promote']);
  for (const [policy, { ops, functions }] of lists) {
    const declared = allOps().filter((o) => o.autocast === policy).map((o) => o.name).sort();
    expect(ops, `docs/mixed-precision.md, policy ${policy}`).toEqual(declared);
    const fns = [SigmoidFocalLossFunction].filter((f) => f.autocast === policy).map((f) => f.name).sort();
    expect(functions, `docs/mixed-precision.md, Functions of policy ${policy}`).toEqual(fns);
  }
});
