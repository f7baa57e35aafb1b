/**
 * Node's modules that only some checks use, loaded when first used rather than when lvsd's modules load:
 * a config of TCP checks alone never needs node:crypto or node:dgram, and importing them at start cost
 * `lvsd run` ~2.5 MiB of RSS (their internal modules compiled, their sources paged in from the node
 * binary). A leaf: imports nothing of lvsd.
 */
import { createRequire } from 'node:module';

const load = createRequire(import.meta.url);

export const nodeCrypto = (): typeof import('node:crypto') => load('node:crypto') as typeof import('node:crypto');
export const nodeDgram = (): typeof import('node:dgram') => load('node:dgram') as typeof import('node:dgram');
