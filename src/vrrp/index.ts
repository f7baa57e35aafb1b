/**
 * The VRRP folder's public face. The pure protocol core: the advert codec (packet.ts, checksum.ts), the
 * RFC 5798 state machine (state-machine.ts) and sync-group decisions (sync-group.ts). The runner
 * (instance.ts, manager.ts, worker.ts, port.ts) wires them to sockets, timers and rtnetlink.
 */
export {
  encodeAdvert, decodeAdvert, advertLength, DROP_REASONS,
  VRRP_MULTICAST_IPV4, VRRP_MULTICAST_IPV6, VRRP_TTL, VRRP_TYPE_ADVERTISEMENT,
  type Advert, type AdvertV2, type AdvertV3, type DecodeContext, type DecodeResult, type DropReason, type EncodeInput,
} from './packet.js';
export { vrrpChecksum, IPPROTO_VRRP } from './checksum.js';
export {
  createMachine, step, machineConfigFrom, wireInterval, effectivePriority, ownFaultCause,
  skewTime, masterDownInterval, compareAddresses,
  type MachineConfig, type VrrpState, type VrrpStateName, type VrrpEvent, type VrrpAction, type StepResult,
  type TimerName, type TransitionReason, type NotifyKind, type SyncCommand,
} from './state-machine.js';
export { syncGroupOrders, type MemberTransition, type SyncOrder } from './sync-group.js';
