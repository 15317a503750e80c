#ifndef CCRC32C_H
#define CCRC32C_H
#include <stddef.h>
#include <stdint.h>

/// Whether this CPU has the CRC-32C instruction (x86-64 SSE4.2).
int capstan_crc32c_hardware_available(void);

/// CRC-32C of `length` bytes continuing from `crc` (0 to start), with the CPU instruction.
/// Call only when capstan_crc32c_hardware_available() returns 1.
uint32_t capstan_crc32c_hardware(uint32_t crc, const void *bytes, size_t length);

#endif
