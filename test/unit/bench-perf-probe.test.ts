/**
 * The health bench's per-probe split of a probing thread's CPU from `perf script` (bench/_perf-probe.ts):
 * samples of the chosen thread only, by the system call they are in (a socket's last close on the way out
 * of close() counted as close), the softirq work inside them, and kernel symbols self and inclusive.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePerfScript, perfProbeFigures } from '../../bench/_perf-probe.js';

const K = (sym: string) => `\tffffffff81000000 ${sym}`;
const U = (sym: string) => `\t           12345 ${sym}`;
const sample = (head: string, ...frames: string[]) => [head, ...frames, ''].join('\n');

const script = [
  // connect with the peer's half of the handshake in the net softirq
  sample('lvsd-tcp-probe 100/102', K('tcp_conn_request'), K('tcp_v4_rcv'), K('net_rx_action'), K('handle_softirqs'), K('__local_bh_enable_ip'),
    K('__dev_queue_xmit'), K('tcp_v4_connect'), K('__sys_connect'), K('__x64_sys_connect'), K('do_syscall_64'), K('entry_SYSCALL_64_after_hwframe'), U('__libc_connect'), U('engine_thread')),
  // the port search, its own work
  sample('lvsd-tcp-probe 100/102', K('__inet_check_established'), K('__inet_hash_connect'), K('tcp_v4_connect'), K('__x64_sys_connect'), K('do_syscall_64'), K('entry_SYSCALL_64_after_hwframe'), U('__libc_connect')),
  // the socket's end on the way out of close()
  sample('lvsd-tcp-probe 100/102', K('tcp_close'), K('inet_release'), K('__fput'), K('task_work_run'), K('syscall_exit_to_user_mode'), K('do_syscall_64'), K('entry_SYSCALL_64_after_hwframe'), U('__close')),
  // user space, and a timer interrupt taken there running the timers' softirq
  sample('lvsd-tcp-probe 100/102', U('lvsd_tcp_run_turns'), U('engine_thread')),
  sample('lvsd-tcp-probe 100/102', K('inet_twsk_kill'), K('run_timer_softirq'), K('handle_softirqs'), K('irq_exit_rcu'), K('sysvec_apic_timer_interrupt'), U('lvsd_tcp_run_turns')),
  // another thread of the process: not counted
  sample('node 100/100', K('ep_poll'), K('__x64_sys_epoll_wait'), K('do_syscall_64'), K('entry_SYSCALL_64_after_hwframe'), U('epoll_wait')),
].join('\n');

test('the probing thread\'s samples are split by call, softirq and symbol, per probe', () => {
  const samples = parsePerfScript(script);
  assert.equal(samples.length, 6);
  assert.deepEqual([samples[5]!.comm, samples[5]!.pid, samples[5]!.tid], ['node', 100, 100]);
  // the thread's 500 us per probe measured over the window: each of its 5 samples is 100 us of it
  const f = perfProbeFigures(samples, (s) => s.comm === 'lvsd-tcp-probe', 1000, 500);
  assert.equal(f.samples, 5);
  assert.equal(f.usPerProbe, 500);
  assert.deepEqual([f.userUs, f.kernelUs], [100, 400]);
  assert.deepEqual(f.bySyscall, { connect: 200, close: 100, user: 100, 'fault or irq in user': 100 });
  assert.deepEqual(f.softirq, { net: 100, timer: 100 });
  assert.equal(f.bySyscallSoftirq['connect/net softirq'], 100);
  assert.equal(f.bySyscallSoftirq['connect/own'], 100);
  assert.equal(f.bySyscallSoftirq['fault or irq in user/timer softirq'], 100);
  const incl = Object.fromEntries(f.inclusive);
  assert.equal(incl.tcp_v4_connect, 200);
  assert.equal(incl.__inet_hash_connect, 100);
  assert.equal(incl.ep_poll, undefined, 'the other thread is not counted');
  assert.deepEqual(Object.fromEntries(f.self).__inet_check_established, 100);
  assert.equal(f.folded.get('entry_SYSCALL_64_after_hwframe;do_syscall_64;__x64_sys_connect;tcp_v4_connect;__inet_hash_connect;__inet_check_established'), undefined,
    'the user frame the kernel was entered from leads the folded stack');
  assert.equal(f.folded.get('__libc_connect;entry_SYSCALL_64_after_hwframe;do_syscall_64;__x64_sys_connect;tcp_v4_connect;__inet_hash_connect;__inet_check_established'), 1);
});
