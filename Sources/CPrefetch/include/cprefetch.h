#ifndef OSPREY_CPREFETCH_H
#define OSPREY_CPREFETCH_H

/// Asks the CPU to start loading the cache line at `address` for reading.
/// A hint: never faults, whatever the address.
static inline void osprey_prefetch(const void *address) { __builtin_prefetch(address, 0, 3); }

/// Asks the CPU to start loading the cache line at `address` for writing.
static inline void osprey_prefetch_write(const void *address) { __builtin_prefetch(address, 1, 3); }

#endif
