/** One entry point for every check type: `probe(check, target, signal, env)`. */
import type { HealthCheckConfig } from '../../config/types.js';
import type { ProbeEnv, ProbeResult, ProbeTarget } from '../types.js';
import { probeAgent } from './agent.js';
import { probeDns } from './dns.js';
import { probeExec } from './exec.js';
import { probeHttp } from './http.js';
import { probeNone } from './none.js';
import { probePing } from './ping.js';
import { probeSmtp } from './smtp.js';
import { probeTcp } from './tcp.js';
import { probeUdp } from './udp.js';

export function probe(
  check: HealthCheckConfig,
  target: ProbeTarget,
  signal?: AbortSignal,
  env?: ProbeEnv,
): Promise<ProbeResult> {
  switch (check.type) {
    case 'tcp':
      return probeTcp(check, signal);
    case 'http':
    case 'https':
      return probeHttp(check, signal);
    case 'dns':
      return probeDns(check, signal);
    case 'exec':
      return probeExec(check, target, signal, env);
    case 'agent':
      return probeAgent(check, signal);
    case 'smtp':
      return probeSmtp(check, signal);
    case 'udp':
      return probeUdp(check, signal);
    case 'ping':
      return probePing(check, signal);
    case 'none':
      return probeNone();
  }
}

export { probeAgent, probeDns, probeExec, probeHttp, probeNone, probePing, probeSmtp, probeTcp, probeUdp };
export { parseAgentReply, type AgentVerdict } from './agent-reply.js';
export * as dnsCodec from './dns-codec.js';
