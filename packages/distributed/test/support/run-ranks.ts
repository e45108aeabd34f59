/** Runs a test rank script in several processes through the launcher, from the TypeScript sources. */
import { fileURLToPath } from 'node:url';
import { launch, type LaunchResult } from '../../src/launcher/launch.js';

/** The path of a script in test/ranks. */
export const rankScript = (name: string): string => fileURLToPath(new URL(`../ranks/${name}`, import.meta.url));

/** Node options of a rank started from a test: the packages' sources (tsx is added for .ts). */
export const SOURCE_NODE_ARGS = ['--conditions=@kiln/source'];

/** Launches `name` in `world` ranks; resolves with the launch's result and each rank's output. */
export async function runRanks(name: string, world: number, args: string[] = [], killTimeout = 2000): Promise<LaunchResult & { output: string[] }> {
  const output = Array.from({ length: world }, () => '');
  const logged: string[] = [];
  const r = await launch({
    nprocPerNode: world, script: rankScript(name), args, nodeArgs: SOURCE_NODE_ARGS, killTimeout,
    onOutput: (rank, text) => { output[rank] += text; },
    log: (m) => logged.push(m),
  });
  return { ...r, output };
}
