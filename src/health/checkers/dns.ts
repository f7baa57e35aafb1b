/**
 * DNS check: one query over UDP (connected socket, so an ICMP refusal fails fast) or TCP (two-byte length
 * prefix); up when a response with our id and question arrives with an expected rcode.
 */
import { isIPv6 } from 'node:net';
import { nodeCrypto, nodeDgram } from '../../builtins.js';
import type { DnsCheck } from '../../config/types.js';
import type { ProbeResult } from '../types.js';
import { closeQuietly, deadline, errorReason, localExtra, probeOverTcp, settleOnce, type Deadline } from './deadline.js';
import { decodeMessage, encodeQuery, QTYPES, sameName, type DnsMessage } from './dns-codec.js';

const RCODE_NAMES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];

export function rcodeName(rcode: number): string {
  return RCODE_NAMES[rcode] ?? String(rcode);
}

export type DnsProbeOptions = Pick<DnsCheck, 'address' | 'port' | 'timeout' | 'query' | 'queryType' | 'expectRcode' | 'transport'>;

export function probeDns(check: DnsProbeOptions, signal?: AbortSignal): Promise<ProbeResult> {
  const d = deadline(check.timeout, signal);
  const id = nodeCrypto().randomInt(0, 0x10000);
  let query: Buffer;
  try {
    query = encodeQuery(id, check.query, QTYPES[check.queryType]);
  } catch (err) {
    d.done();
    return Promise.resolve(d.result(false, errorReason('query', err)));
  }
  const judge = (msg: DnsMessage): ProbeResult | undefined => {
    if (!msg.header.response || msg.header.id !== id) return undefined;
    const q = msg.questions[0];
    if (msg.questions.length > 0 && (!q || !sameName(q.name, check.query) || q.type !== QTYPES[check.queryType])) {
      return undefined;
    }
    const rc = msg.header.rcode;
    return check.expectRcode.includes(rc)
      ? d.result(true, `rcode ${rcodeName(rc)}`)
      : d.result(false, `rcode ${rcodeName(rc)}`);
  };
  return check.transport === 'tcp' ? overTcp(check, d, query, judge) : overUdp(check, d, query, judge);
}

type Judge = (msg: DnsMessage) => ProbeResult | undefined;

function overUdp(check: DnsProbeOptions, d: Deadline, query: Buffer, judge: Judge): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const sock = nodeDgram().createSocket(isIPv6(check.address) ? 'udp6' : 'udp4');
    const { finish, settled, watch } = settleOnce(d, resolve, () => closeQuietly(sock));
    if (!watch()) return;
    sock.on('error', (err) => finish(d.result(false, errorReason('udp', err), localExtra(err))));
    sock.on('message', (msg) => {
      let decoded: DnsMessage;
      try {
        decoded = decodeMessage(msg);
      } catch {
        return; // not a DNS message for us; keep waiting until the timeout
      }
      const r = judge(decoded);
      if (r) finish(r);
    });
    sock.connect(check.port, check.address, () => {
      if (!settled()) sock.send(query, (err) => err && finish(d.result(false, errorReason('send', err), localExtra(err))));
    });
  });
}

function overTcp(check: DnsProbeOptions, d: Deadline, query: Buffer, judge: Judge): Promise<ProbeResult> {
  return probeOverTcp(check, d, ({ sock, finish }) => {
    sock.once('connect', () => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(query.length);
      sock.write(Buffer.concat([len, query]));
    });
    let buf = Buffer.alloc(0);
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2) {
        const n = buf.readUInt16BE(0);
        if (buf.length < 2 + n) return;
        const one = buf.subarray(2, 2 + n);
        buf = buf.subarray(2 + n);
        let decoded: DnsMessage;
        try {
          decoded = decodeMessage(one);
        } catch {
          return finish(d.result(false, 'malformed response'));
        }
        const r = judge(decoded);
        if (r) return finish(r);
      }
    });
    sock.once('end', () => finish(d.result(false, 'closed without response')));
  });
}
