/**
 * The bundle's own netlink client over the code cache's training kernel (code-cache-training.ts): what
 * `lvsd apply` talks to while the cache is trained, instead of the kernel's IPVS.
 */
import { ipvsClientOver } from '../ipvs/client.js';
import type { NlMsg } from '../ipvs/nlattr-read.js';
import { GenlSocket } from '../ipvs/socket.js';
import type { IpvsClient } from '../ipvs/types.js';
import type { TrainingKernel } from './code-cache-training.js';

/** A socket whose reads the training kernel answers; its changes go to the kernel as they would. */
function trainingSocket(kernel: TrainingKernel): GenlSocket {
  const socket = new GenlSocket();
  const read = (build: (seq: number) => Buffer, what: string): Promise<NlMsg[]> => Promise.resolve(kernel.answer(build(0), what));
  socket.dump = read;
  socket.get = read;
  return socket;
}

/** The bundle's own netlink client over the training kernel. */
export function trainingClient(kernel: TrainingKernel): IpvsClient {
  return ipvsClientOver(trainingSocket(kernel), kernel.family, { openSocket: () => trainingSocket(kernel) });
}
