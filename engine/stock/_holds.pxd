# cython: language_level=3
"""The stock core's open holds: a hash table of C structs keyed by hold id.

Only open holds are stored; a hold that ends leaves the table, so memory
follows the number of open holds, not the number ever issued. Hold ids are
issued sequentially, so the bucket is the id itself, offset per block of
`capacity` ids: a batch of new holds lands in neighbouring buckets (cache
friendly), while ids that are a multiple of the capacity apart do not pile
into one cluster. Linear probing with backward-shift deletion: no tombstones.
"""

from libc.stdint cimport int32_t, int64_t, uint64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memset


ctypedef struct Hold:
    int64_t hold_id         # 0 marks an empty bucket
    int64_t quantity        # what remains held
    int64_t expires_at
    int32_t slot
    int32_t confirmed


ctypedef struct HoldTable:
    Hold *buckets
    int64_t mask            # bucket count - 1; the count is a power of two
    int32_t bits            # log2 of the bucket count
    int64_t count


cdef inline int64_t _home(const HoldTable *t, int64_t hold_id) noexcept nogil:
    cdef uint64_t block = <uint64_t>hold_id >> t.bits
    return <int64_t>((<uint64_t>hold_id + block * 0x9E3779B97F4A7C15ULL) & <uint64_t>t.mask)


cdef inline int holds_init(HoldTable *t, int32_t bits) noexcept nogil:
    """Start empty with 2**bits buckets; 0 on success, -1 when out of memory."""
    t.buckets = <Hold *>calloc(<size_t>1 << bits, sizeof(Hold))
    if t.buckets == NULL:
        return -1
    t.bits = bits
    t.mask = (<int64_t>1 << bits) - 1
    t.count = 0
    return 0


cdef inline void holds_free(HoldTable *t) noexcept nogil:
    free(t.buckets)
    memset(t, 0, sizeof(HoldTable))


cdef inline Hold *holds_find(const HoldTable *t, int64_t hold_id) noexcept nogil:
    """The open hold with this id, or NULL."""
    cdef int64_t i = _home(t, hold_id)
    while t.buckets[i].hold_id != 0:
        if t.buckets[i].hold_id == hold_id:
            return &t.buckets[i]
        i = (i + 1) & t.mask
    return NULL


cdef inline void _put(HoldTable *t, const Hold *hold) noexcept nogil:
    cdef int64_t i = _home(t, hold.hold_id)
    while t.buckets[i].hold_id != 0:
        i = (i + 1) & t.mask
    t.buckets[i] = hold[0]


cdef inline int _grow(HoldTable *t) noexcept nogil:
    """Double the buckets and rehash; -1 (table unchanged) when out of memory."""
    cdef Hold *old = t.buckets
    cdef int64_t size = t.mask + 1
    cdef int64_t i
    cdef Hold *fresh = <Hold *>calloc(<size_t>(size * 2), sizeof(Hold))
    if fresh == NULL:
        return -1
    t.buckets = fresh
    t.bits += 1
    t.mask = size * 2 - 1
    for i in range(size):
        if old[i].hold_id != 0:
            _put(t, &old[i])
    free(old)
    return 0


cdef inline int holds_insert(HoldTable *t, const Hold *hold) noexcept nogil:
    """Store a hold whose id is not in the table; -1 when out of memory."""
    # Keep the load under 70%: linear probing degrades fast beyond that.
    if (t.count + 1) * 10 > (t.mask + 1) * 7:
        if _grow(t) < 0:
            return -1
    _put(t, hold)
    t.count += 1
    return 0


cdef inline void holds_remove(HoldTable *t, Hold *hold) noexcept nogil:
    """Remove a hold found by `holds_find`, shifting its cluster back over the gap."""
    cdef int64_t gap = hold - t.buckets
    cdef int64_t i = gap
    cdef int64_t home
    while True:
        i = (i + 1) & t.mask
        if t.buckets[i].hold_id == 0:
            break
        home = _home(t, t.buckets[i].hold_id)
        # Bucket i may move into the gap only if its home is not cyclically in (gap, i].
        if (gap <= i and gap < home <= i) or (gap > i and (home > gap or home <= i)):
            continue
        t.buckets[gap] = t.buckets[i]
        gap = i
    t.buckets[gap].hold_id = 0
    t.count -= 1
