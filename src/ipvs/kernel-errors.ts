/**
 * A kernel refusal (errno) as the netlink socket hands it (NetlinkErrno), and of one IpvsCommand -> an
 * LvsdError('LVSD_IPVS_KERNEL') whose message a user understands and names the object. Pure. The errnos
 * are the ones net/netfilter/ipvs/ip_vs_ctl.c returns (checked in the VM test).
 */
import { constants } from 'node:os';
import { getSystemErrorName } from 'node:util';
import { LvsdError } from '../errors.js';
import { destId, serviceId, type IpvsCommand, type ServiceKey } from './types.js';

const E = constants.errno;

function errnoName(errno: number): string {
  try {
    return getSystemErrorName(-errno);
  } catch {
    return `errno ${errno}`;
  }
}

function svcText(key: ServiceKey): string {
  return `service ${serviceId(key)}`;
}

function schedulerMissing(scheduler: string, pe: string): string {
  const sched = `scheduler "${scheduler}" is not available: load module ip_vs_${scheduler}`;
  return pe === '' ? sched : `${sched} (or persistence engine "${pe}": module ip_vs_pe_${pe})`;
}

/** The sentence for one refused command. */
export function kernelErrorMessage(command: IpvsCommand, errno: number, kernelText?: string): string {
  if (errno === E.EPERM || errno === E.EACCES) return 'permission denied: lvsd needs CAP_NET_ADMIN';
  const suffix = kernelText ? ` (${kernelText})` : '';
  switch (command.cmd) {
    case 'new-service':
    case 'set-service': {
      const s = command.service;
      const what = svcText(s.key);
      if (errno === E.EEXIST) return `${what} already exists`;
      if (errno === E.ESRCH) return `${what} does not exist`;
      if (errno === E.ENOENT) return schedulerMissing(s.scheduler, s.pe);
      if (errno === E.EAFNOSUPPORT) return `${what}: IPv6 is not available to IPVS in this kernel`;
      if (errno === E.EINVAL) return `${what} was refused as invalid (scheduler "${s.scheduler}", flags 0x${s.flags.toString(16)}, timeout ${s.timeout}, netmask ${s.netmask})${suffix}`;
      break;
    }
    case 'del-service':
      if (errno === E.ESRCH) return `${svcText(command.key)} does not exist`;
      break;
    case 'new-dest':
    case 'set-dest':
    case 'del-dest': {
      const rs = `real server ${destId(command.dest)}`;
      const where = `in ${svcText(command.service)}`;
      if (errno === E.ESRCH) return `${svcText(command.service)} does not exist`;
      if (errno === E.EEXIST) return `${rs} already exists ${where}`;
      if (errno === E.ENOENT) return `${rs} does not exist ${where}`;
      if (errno === E.ENETUNREACH || errno === E.EHOSTUNREACH) return `${rs} has no route`;
      if (errno === E.ERANGE) return `${rs} ${where}: weight or connection thresholds out of range (the lower threshold must not exceed the upper)`;
      if (errno === E.EINVAL && command.cmd !== 'del-dest') {
        const d = command.dest;
        if (d.family !== command.service.family && d.forwarding !== 'tunnel') {
          return `${rs} ${where}: a real server of another address family needs tunnel forwarding`;
        }
        if (d.forwarding === 'tunnel' && d.tunnelType === 'gue' && d.tunnelPort === 0) return `${rs} ${where}: a GUE tunnel needs a tunnel port`;
        return `${rs} ${where} was refused as invalid (its address is not a usable unicast address, or the forwarding is not possible)${suffix}`;
      }
      break;
    }
    case 'set-timeouts':
      if (errno === E.EINVAL) return `connection timeouts were refused as invalid${suffix}`;
      break;
    case 'new-daemon':
      if (errno === E.EEXIST) return `the ${command.daemon.state} sync daemon is already running`;
      if (errno === E.ENODEV) return `sync daemon interface "${command.daemon.interface}" does not exist`;
      if (errno === E.EINVAL) return `the ${command.daemon.state} sync daemon was refused: the sync protocol cannot run while a service has a real server of another address family (or its settings are invalid)${suffix}`;
      break;
    case 'del-daemon':
      if (errno === E.ESRCH) return `no ${command.state} sync daemon is running`;
      break;
  }
  return `${describeCommand(command)} was refused by the kernel: ${errnoName(errno)}${suffix}`;
}

/** "new-dest 10.0.1.11:8080 in tcp/192.0.2.10:80", for messages and logs. */
export function describeCommand(command: IpvsCommand): string {
  switch (command.cmd) {
    case 'new-service':
    case 'set-service':
      return `${command.cmd} ${serviceId(command.service.key)}`;
    case 'del-service':
      return `del-service ${serviceId(command.key)}`;
    case 'new-dest':
    case 'set-dest':
    case 'del-dest':
      return `${command.cmd} ${destId(command.dest)} in ${serviceId(command.service)}`;
    case 'set-timeouts':
      return 'set-timeouts';
    case 'new-daemon':
      return `new-daemon ${command.daemon.state}`;
    case 'del-daemon':
      return `del-daemon ${command.state}`;
  }
}

export function kernelError(command: IpvsCommand, errno: number, kernelText?: string): LvsdError {
  return new LvsdError('LVSD_IPVS_KERNEL', kernelErrorMessage(command, errno, kernelText), {
    details: { errno, code: errnoName(errno), command, description: describeCommand(command) },
  });
}

/** A refusal by the kernel, errno kept. The client turns it into an LvsdError naming the object. */
export class NetlinkErrno extends Error {
  constructor(readonly errno: number, readonly kernelText?: string) {
    super(`netlink error ${errno}${kernelText ? `: ${kernelText}` : ''}`);
    this.name = 'NetlinkErrno';
  }
}
