#include "ccrc32c.h"
#include <string.h>

#if defined(__x86_64__)
int capstan_crc32c_hardware_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2") ? 1 : 0;
}

__attribute__((target("sse4.2")))
uint32_t capstan_crc32c_hardware(uint32_t crc, const void *bytes, size_t length) {
    const unsigned char *p = (const unsigned char *)bytes;
    uint64_t state = ~crc;
    while (length >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        state = __builtin_ia32_crc32di(state, word);
        p += 8;
        length -= 8;
    }
    uint32_t state32 = (uint32_t)state;
    while (length > 0) {
        state32 = __builtin_ia32_crc32qi(state32, *p);
        p++;
        length--;
    }
    return ~state32;
}
#else
int capstan_crc32c_hardware_available(void) { return 0; }
uint32_t capstan_crc32c_hardware(uint32_t crc, const void *bytes, size_t length) {
    (void)bytes; (void)length;
    return crc;
}
#endif
