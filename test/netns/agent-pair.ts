/**
 * Two namespaces joined by a veth pair with a net agent (fixtures/net-agent.ts) in each: a0 in `a` holds
 * PREFIX.1/24, b0 in `b` PREFIX.2/24, both up with carrier and each agent ready before it returns. What a
 * test adds before the links come up (fixed link-local addresses, say) goes in `beforeUp`.
 */
import { JsonChild, NetnsLab } from './netns.js';

const agentScript = new URL('./fixtures/net-agent.js', import.meta.url);

export interface AgentPair {
  a: string;
  b: string;
  agentA: JsonChild;
  agentB: JsonChild;
}

export async function agentPair(
  lab: NetnsLab,
  prefix: string,
  options: { veth?: { macA?: string; macB?: string; indexA?: number; indexB?: number }; beforeUp?: (a: string, b: string) => void } = {},
): Promise<AgentPair> {
  const a = lab.namespace('a');
  const b = lab.namespace('b');
  lab.veth(a, 'a0', b, 'b0', { ...options.veth, up: false });
  lab.ip(a, `addr add ${prefix}.1/24 dev a0`);
  lab.ip(b, `addr add ${prefix}.2/24 dev b0`);
  options.beforeUp?.(a, b);
  lab.ip(a, 'link set a0 up');
  lab.ip(b, 'link set b0 up');
  await lab.waitOperUp(a, 'a0');
  await lab.waitOperUp(b, 'b0');
  const agentA = lab.spawnJson(a, agentScript);
  const agentB = lab.spawnJson(b, agentScript);
  await agentA.next((m) => m.event === 'ready', 10_000);
  await agentB.next((m) => m.event === 'ready', 10_000);
  return { a, b, agentA, agentB };
}
