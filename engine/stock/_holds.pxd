# cython: language_level=3
"""The stock core's open holds: a hash table of C structs keyed by hold id.

Only open holds are stored; a hold that ends leaves the table, so memory
follows the number of open holds, not the number ever issued. Linear probing
with backward-shift deletion: no tombstones.

Why not bucket = hold id, since ids are sequential? Then a batch of new holds
forms one dense run, and every deletion must scan to the end of its cluster:
expiring a flash sale's 600,000 holds took minutes. So runs of 8 ids share
neighbouring buckets (a batch still touches few cache lines) and the runs are
scattered by Fibonacci hashing, which keeps clusters short.
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
    # Runs of 8 consecutive ids share neighbouring buckets (a batch of new holds
    # touches few cache lines); the runs themselves are scattered by Fibonacci
    # hashing, so a dense window of new holds never piles onto older holds.
    cdef uint64_t run = (<uint64_t>hold_id >> 3) * 0x9E3779B97F4A7C15ULL
    return <int64_t>(((run >> (64 - t.bits + 3)) << 3) | (<uint64_t>hold_id & 7))


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


cdef inline int _grow(HoldTable *t, int32_t bits) noexcept nogil:
    """Rehash into 2**bits buckets; -1 (table unchanged) when out of memory."""
    cdef Hold *old = t.buckets
    cdef int64_t size = t.mask + 1
    cdef int64_t i
    cdef Hold *fresh = <Hold *>calloc(<size_t>1 << bits, sizeof(Hold))
    if fresh == NULL:
        return -1
    t.buckets = fresh
    t.bits = bits
    t.mask = (<int64_t>1 << bits) - 1
    for i in range(size):
        if old[i].hold_id != 0:
            _put(t, &old[i])
    free(old)
    return 0


cdef inline bint _crowded(int64_t count, int32_t bits) noexcept nogil:
    # Keep the load under 70%: linear probing degrades fast beyond that.
    return count * 10 > ((<int64_t>1) << bits) * 7


cdef inline int holds_reserve(HoldTable *t, int64_t count) noexcept nogil:
    """Make room for `count` holds in one rehash; -1 when out of memory."""
    cdef int32_t bits = t.bits
    while _crowded(count, bits):
        bits += 1
    if bits == t.bits:
        return 0
    return _grow(t, bits)


cdef inline int holds_insert(HoldTable *t, const Hold *hold) noexcept nogil:
    """Store a hold whose id is not in the table; -1 when out of memory."""
    if _crowded(t.count + 1, t.bits) and _grow(t, t.bits + 1) < 0:
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
