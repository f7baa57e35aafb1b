/** The public face of src/ipvs: the IPVS table types, the netlink client, and the pure codec for tests and tools. */
export * from './types.js';
export { createIpvsClient, type IpvsClientOptions } from './client.js';
export { kernelError, kernelErrorMessage, describeCommand } from './kernel-errors.js';
export {
  encodeService, decodeService, encodeServiceKey, encodeDest, decodeDest, encodeDestKey, decodeStats,
} from './codec.js';
export { encodeDaemon, decodeDaemon, encodeTimeouts, decodeTimeouts, decodeInfo } from './system.js';
export {
  commandMessage, dumpServicesMessage, dumpDestsMessage, dumpDaemonsMessage, getInfoMessage, getConfigMessage,
} from './messages.js';
