/**
 * Copies of table objects built field by field. Why not `{ ...d, weight }`: V8 clones a spread object
 * with a hidden class of its own more often than not (measured in Node 20: a spread that adds a field the
 * source lacks, or a property set on the copy afterwards, gives every copy its own class, ~300 bytes of
 * class and descriptors beside the object, which only a full GC frees). One literal with every field in
 * one order shares one class for every copy. lvsd keeps several copies per real server (health lists,
 * desired table, kept view): at 100,000 real servers that was most of the heap's hidden classes.
 */
import type { DestSpec, KernelDest } from './types.js';

/** `d` with `weight` (default its own), every field in DestSpec's order. */
export function destSpec(d: DestSpec, weight: number = d.weight): DestSpec {
  return {
    family: d.family, address: d.address, port: d.port, forwarding: d.forwarding, weight,
    upperThreshold: d.upperThreshold, lowerThreshold: d.lowerThreshold,
    tunnelType: d.tunnelType, tunnelPort: d.tunnelPort, tunnelFlags: d.tunnelFlags,
  };
}

/** `d` as a kernel real server with these counters (default 0), no stats. */
export function kernelDest(d: DestSpec, activeConns = 0, inactiveConns = 0, persistentConns = 0): KernelDest {
  return {
    family: d.family, address: d.address, port: d.port, forwarding: d.forwarding, weight: d.weight,
    upperThreshold: d.upperThreshold, lowerThreshold: d.lowerThreshold,
    tunnelType: d.tunnelType, tunnelPort: d.tunnelPort, tunnelFlags: d.tunnelFlags,
    activeConns, inactiveConns, persistentConns,
  };
}
