/**
 * src/ecmp: active-active directors behind ECMP routers (docs/ecmp.md). Other folders import only this file.
 * - decide.ts: which service addresses to announce, from health, quorum, drain and stop (pure)
 * - bird-config.ts: the bird.conf lvsd writes (pure)
 * - bird-control.ts: BIRD's control socket and the parsers of its replies
 * - supervisor.ts: BIRD as a supervised child (restart with backoff, dies with lvsd)
 * - sysctl.ts: sloppy TCP/SCTP and ARP settings
 * - manager.ts: the director's ECMP side, wired by the daemon
 */
export { announced, decide, vipPrefix, type DirectorState, type ServiceQuorum, type VipDecision } from './decide.js';
export { birdConfig, peerProtocol } from './bird-config.js';
export { birdCommand, bgpSession, birdTime, parseBfdSessions, parseProtocols, type BirdReply } from './bird-control.js';
export { BirdSupervisor, type DaemonStatus } from './supervisor.js';
export { ECMP_SYSCTLS, applySysctls, type SysctlResult } from './sysctl.js';
export { sessionChange, type SessionRead } from './session-change.js';
export { Ecmp, type EcmpAddressPort, type EcmpHost, type EcmpOptions, type EcmpPeerStatus, type EcmpStatus } from './manager.js';
