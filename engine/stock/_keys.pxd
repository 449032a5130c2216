# cython: language_level=3
"""Interned keys (SKUs, locations) for the stock core, without Python objects.

A key is stored once as UTF-8 in one growing byte buffer and is known by its
number, 0, 1, 2... in order of first sight. An open-addressing index over the
numbers finds a key by its bytes. A million keys cost a few bytes of overhead
each, where a dict of a million str keys would cost about 100 MB.
"""

from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcmp, memcpy, memset


ctypedef struct KeyTable:
    char *data              # every key's bytes, end to end
    int64_t data_used
    int64_t data_capacity
    int64_t *starts         # key k is data[starts[k]:starts[k + 1]]
    uint32_t *hashes        # key k's hash, so probes rarely compare bytes
    int32_t count
    int32_t capacity        # keys that starts and hashes have room for
    int32_t *index          # key number or -1; its size is a power of two
    int64_t index_mask


cdef inline uint32_t key_hash(const char *data, Py_ssize_t size) noexcept nogil:
    # FNV-1a, folded to 32 bits: good spread on short, similar keys like "SKU-000123".
    cdef uint64_t h = 14695981039346656037ULL
    cdef Py_ssize_t i
    for i in range(size):
        h = (h ^ <unsigned char>data[i]) * 1099511628211ULL
    return <uint32_t>(h ^ (h >> 32))


cdef inline int keys_init(KeyTable *t) noexcept nogil:
    """Start empty; 0 on success, -1 when out of memory."""
    memset(t, 0, sizeof(KeyTable))
    t.starts = <int64_t *>malloc(sizeof(int64_t))
    t.index = <int32_t *>malloc(16 * sizeof(int32_t))
    if t.starts == NULL or t.index == NULL:
        return -1
    t.starts[0] = 0
    memset(t.index, 0xFF, 16 * sizeof(int32_t))
    t.index_mask = 15
    return 0


cdef inline void keys_free(KeyTable *t) noexcept nogil:
    free(t.data)
    free(t.starts)
    free(t.hashes)
    free(t.index)
    memset(t, 0, sizeof(KeyTable))


cdef inline const char *key_bytes(const KeyTable *t, int32_t key, Py_ssize_t *size) noexcept nogil:
    size[0] = <Py_ssize_t>(t.starts[key + 1] - t.starts[key])
    return t.data + t.starts[key]


cdef inline int key_compare(const KeyTable *t, int32_t a, int32_t b) noexcept nogil:
    """Order of two keys as their strings order: UTF-8 bytes sort like code points."""
    cdef Py_ssize_t size_a, size_b
    cdef const char *bytes_a = key_bytes(t, a, &size_a)
    cdef const char *bytes_b = key_bytes(t, b, &size_b)
    cdef int order = memcmp(bytes_a, bytes_b, size_a if size_a < size_b else size_b)
    if order != 0:
        return order
    return (size_a > size_b) - (size_a < size_b)


cdef inline int32_t keys_find(const KeyTable *t, const char *data, Py_ssize_t size) noexcept nogil:
    """The key's number, or -1 when it was never added."""
    cdef uint32_t h = key_hash(data, size)
    cdef int64_t i = h & t.index_mask
    cdef int32_t key
    while True:
        key = t.index[i]
        if key < 0:
            return -1
        if t.hashes[key] == h:
            if key_size_equal(t, key, size) and memcmp(t.data + t.starts[key], data, size) == 0:
                return key
        i = (i + 1) & t.index_mask


cdef inline bint key_size_equal(const KeyTable *t, int32_t key, Py_ssize_t size) noexcept nogil:
    return t.starts[key + 1] - t.starts[key] == size


cdef inline void _index_put(KeyTable *t, int32_t key) noexcept nogil:
    cdef int64_t i = t.hashes[key] & t.index_mask
    while t.index[i] >= 0:
        i = (i + 1) & t.index_mask
    t.index[i] = key


cdef inline int _keys_reserve(KeyTable *t, Py_ssize_t size) noexcept nogil:
    """Room for one more key of `size` bytes; -1 when out of memory."""
    cdef int64_t data_capacity, index_size
    cdef int32_t capacity, key
    cdef void *grown
    if t.data_used + size > t.data_capacity:
        data_capacity = t.data_capacity * 2 if t.data_capacity else 256
        while data_capacity < t.data_used + size:
            data_capacity *= 2
        grown = realloc(t.data, data_capacity)
        if grown == NULL:
            return -1
        t.data = <char *>grown
        t.data_capacity = data_capacity
    if t.count == t.capacity:
        capacity = t.capacity * 2 if t.capacity else 16
        grown = realloc(t.starts, (capacity + 1) * sizeof(int64_t))
        if grown == NULL:
            return -1
        t.starts = <int64_t *>grown
        grown = realloc(t.hashes, capacity * sizeof(uint32_t))
        if grown == NULL:
            return -1
        t.hashes = <uint32_t *>grown
        t.capacity = capacity
    # The index stays at most half full, so probes stay short.
    if (t.count + 1) * 2 > t.index_mask + 1:
        index_size = (t.index_mask + 1) * 2
        grown = malloc(index_size * sizeof(int32_t))
        if grown == NULL:
            return -1
        free(t.index)
        t.index = <int32_t *>grown
        t.index_mask = index_size - 1
        memset(t.index, 0xFF, index_size * sizeof(int32_t))
        for key in range(t.count):
            _index_put(t, key)
    return 0


cdef inline int32_t keys_add(KeyTable *t, const char *data, Py_ssize_t size) noexcept nogil:
    """Add a key not yet present; its new number, or -1 when out of memory."""
    if _keys_reserve(t, size) < 0:
        return -1
    cdef int32_t key = t.count
    memcpy(t.data + t.data_used, data, size)
    t.data_used += size
    t.starts[key + 1] = t.data_used
    t.hashes[key] = key_hash(data, size)
    t.count += 1
    _index_put(t, key)
    return key
