#include <stddef.h>
/// Bytes the allocator has handed out and not yet had back (glibc mallinfo2: in-use chunks plus mmapped blocks).
size_t capstan_heap_in_use(void);
