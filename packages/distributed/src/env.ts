/**
 * The launcher's environment, as torchrun's: RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
 * MASTER_ADDR, MASTER_PORT, and KILN_AGENT_STORE=1 when the launcher hosts the store itself.
 */
import { ValueError } from '@kiln/tensor';

/** An integer environment variable, or undefined when unset; a ValueError naming it when malformed. */
export function envInt(op: string, name: string, min: number): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new ValueError(op, name, `an integer >= ${min} in the environment variable ${name}`, JSON.stringify(v));
  return n;
}

/** True for the loopback names and addresses (127.0.0.0/8, ::1, localhost). */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
