/**
 * Agent check: connect to the agent port, optionally send a text, read one line (at most LINE_LIMIT bytes,
 * ended by a newline or the agent closing) and judge it with parseAgentReply. Failing to connect, or a close
 * with nothing said, is down.
 */
import type { AgentCheck } from '../../config/types.js';
import type { ProbeResult } from '../types.js';
import { parseAgentReply } from './agent-reply.js';
import { deadline, probeOverTcp } from './deadline.js';

export const LINE_LIMIT = 1024;

export function probeAgent(check: Pick<AgentCheck, 'address' | 'port' | 'timeout' | 'send'>, signal?: AbortSignal): Promise<ProbeResult> {
  const d = deadline(check.timeout, signal);
  return probeOverTcp(check, d, ({ sock, finish }) => {
    let text = '';
    const judge = (line: string) => {
      const trimmed = line.replace(/\r$/, '');
      if (trimmed.trim() === '') return finish(d.result(false, 'agent said nothing', { output: '' }));
      finish(d.result(false, '', { ...parseAgentReply(trimmed), output: trimmed }));
    };
    sock.setEncoding('utf8');
    sock.once('connect', () => {
      if (check.send !== undefined && check.send !== '') sock.write(check.send);
    });
    sock.on('data', (chunk: string) => {
      text += chunk;
      const nl = text.indexOf('\n');
      if (nl >= 0) judge(text.slice(0, nl));
      else if (text.length >= LINE_LIMIT) judge(text.slice(0, LINE_LIMIT));
    });
    sock.once('end', () => judge(text));
  });
}
