# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""The stock core: slots and holds as C structs, reservation at memory speed.

Same API and same rules as the reference model (`reference.py`, which states
them); a differential test holds the two to identical events and state.

Where the speed comes from:

- SKUs and locations are interned into `_keys.KeyTable` (bytes, no Python
  objects); a slot is a 48-byte struct; a SKU's slots form a linked chain
  kept in allocation order, (priority, location).
- Open holds live in `_holds.HoldTable`, a hash table of structs.
- `reserve_compact` takes orders as flat integer buffers and writes what
  happened into a `ReserveLog` of C records; event structs are built only
  when `ReserveLog.events()` asks. `reserve` is that path plus both
  conversions, so the two cannot disagree.

Invariants are checked as the core runs and a broken one raises
`InvariantError`: the core stops rather than carry on from a bad state.
"""

from cpython cimport array as carray
from cpython.long cimport PyLong_AsLongLongAndOverflow, PyLong_CheckExact
from cpython.unicode cimport (
    PyUnicode_AsUTF8AndSize,
    PyUnicode_CheckExact,
    PyUnicode_DATA,
    PyUnicode_DecodeUTF8,
    PyUnicode_GET_LENGTH,
)
from libc.stdint cimport INT64_MAX, INT64_MIN, int32_t, int64_t
from libc.stdlib cimport free, malloc, qsort, realloc
from libc.string cimport memcmp

from engine.stock._holds cimport (
    Hold,
    HoldTable,
    holds_find,
    holds_free,
    holds_init,
    holds_insert,
    holds_reserve,
    holds_remove,
)
from engine.stock._keys cimport (
    KeyTable,
    key_bytes,
    key_compare,
    keys_add,
    keys_find,
    keys_free,
    keys_init,
)

from engine.stock import rejections
from engine.stock.commands import check_hold_ids, check_items, check_orders, check_releases
from engine.stock.compact import CompactOrders, layout_error
from engine.stock.errors import InvariantError
from engine.stock.events import (
    HoldConfirmed,
    HoldExpired,
    HoldReleased,
    SlotConfigured,
    StockAdjusted,
    StockReceived,
    StockRejected,
    StockReserved,
    StockRestocked,
    StockShipped,
)
from engine.stock.limits import StockLimits, check_batch_size, check_clock
from engine.stock.rejections import OrderFault
from engine.stock.state import HoldState, SlotState, StockState, decode_snapshot, encode_snapshot

import array


cdef extern from "Python.h":
    bint PyUnicode_IS_COMPACT_ASCII(object)


# Empty arrays to clone the compact buffers from.
cdef carray.array INT64_ARRAY = array.array("q")
cdef carray.array INT32_ARRAY = array.array("i")


ctypedef struct Slot:
    int64_t on_hand
    int64_t reserved
    int64_t safety_stock
    int64_t backorder_limit
    int32_t priority
    int32_t sku
    int32_t location
    int32_t next            # the SKU's next slot in allocation order, or -1


ctypedef struct LogRecord:
    int64_t hold_id         # 0 for a rejection
    int64_t quantity        # the hold's quantity, or the failing line's
    int64_t value           # a hold's expires_at, or the figure the fault is about
    int64_t reserved        # the slot's reserved after the hold
    int32_t order           # index of the order in the batch
    int32_t slot            # a hold's slot; for a rejection the SKU (negative: unknown)
    int32_t fault           # 0 for a hold, else an OrderFault
    int32_t line            # the failing line's index in its order


ctypedef struct Due:
    int64_t expires_at
    int64_t hold_id


# OrderFault's values as C constants for the hot loop; checked against it at import.
cdef enum:
    FAULT_NO_LINES = 1
    FAULT_TOO_MANY_LINES = 2
    FAULT_TTL_OUT_OF_RANGE = 3
    FAULT_UNKNOWN_SKU = 4
    FAULT_QUANTITY_OUT_OF_RANGE = 5
    FAULT_INSUFFICIENT_STOCK = 6
    FAULT_OPEN_HOLDS_FULL = 7

if [fault.value for fault in OrderFault] != list(range(1, FAULT_OPEN_HOLDS_FULL + 1)):
    raise ImportError("engine.stock._core: OrderFault no longer matches the core's fault codes")


cdef enum:
    NO_SLOT_SKU = -1        # _slot_of: the SKU is not configured anywhere
    NO_SLOT_LOCATION = -2   # _slot_of: the SKU is not configured at that location
    NO_SKU_NAME = -2147483648


cdef inline int64_t headroom(const Slot *s) noexcept nogil:
    return s.on_hand - s.safety_stock + s.backorder_limit - s.reserved


cdef inline bint covers(const Slot *s, int64_t on_hand, int64_t safety_stock,
                        int64_t backorder_limit) noexcept nogil:
    """Would these settings still cover what the slot has reserved?"""
    return s.reserved == 0 or on_hand - safety_stock + backorder_limit >= s.reserved


cdef int32_t find_key(const KeyTable *table, key) except -2:
    """The key's number, or -1 when absent (a str that is not UTF-8 is absent too)."""
    cdef Py_ssize_t size
    cdef const char *data
    try:
        data = PyUnicode_AsUTF8AndSize(key, &size)
    except UnicodeEncodeError:
        return -1
    return keys_find(table, data, size)


cdef int32_t intern_key(KeyTable *table, key) except -1:
    cdef Py_ssize_t size
    cdef const char *data = PyUnicode_AsUTF8AndSize(key, &size)
    cdef int32_t number = keys_find(table, data, size)
    if number < 0:
        number = keys_add(table, data, size)
        if number < 0:
            raise MemoryError("stock core: out of memory interning a key")
    return number


cdef str decode_key(const KeyTable *table, int32_t key):
    cdef Py_ssize_t size
    cdef const char *data = key_bytes(table, key, &size)
    return PyUnicode_DecodeUTF8(data, size, NULL)


cdef Py_ssize_t utf8_size(key) except -1:
    cdef Py_ssize_t size
    PyUnicode_AsUTF8AndSize(key, &size)
    return size


cdef int due_order(const void *a, const void *b) noexcept nogil:
    cdef const Due *x = <const Due *>a
    cdef const Due *y = <const Due *>b
    if x.expires_at != y.expires_at:
        return -1 if x.expires_at < y.expires_at else 1
    return (x.hold_id > y.hold_id) - (x.hold_id < y.hold_id)


cdef class ReserveLog:
    """What one `reserve_compact` call did, as compact C records.

    `events()` turns them into the payload structs `reserve` would return.
    """

    cdef LogRecord *records
    cdef Py_ssize_t count
    cdef Py_ssize_t capacity
    cdef StockCore core
    cdef object order_ids
    cdef object unknown_skus

    def __dealloc__(self):
        free(self.records)

    cdef int grow(self) except -1:
        cdef Py_ssize_t capacity = self.capacity * 2 if self.capacity else 1024
        cdef void *grown = realloc(self.records, capacity * sizeof(LogRecord))
        if grown == NULL:
            raise MemoryError("stock core: out of memory growing a reserve log")
        self.records = <LogRecord *>grown
        self.capacity = capacity
        return 0

    cdef inline LogRecord *append(self) except NULL:
        if self.count == self.capacity:
            self.grow()
        self.count += 1
        return &self.records[self.count - 1]

    def __len__(self):
        return self.count

    @property
    def reserved_count(self):
        """Holds issued (an order split across locations issues several)."""
        cdef Py_ssize_t i, n = 0
        for i in range(self.count):
            n += self.records[i].fault == 0
        return n

    @property
    def rejected_count(self):
        return self.count - self.reserved_count

    @property
    def reserved_quantity(self):
        cdef Py_ssize_t i
        cdef int64_t total = 0
        for i in range(self.count):
            if self.records[i].fault == 0:
                total += self.records[i].quantity
        return total

    def events(self):
        return self.core.log_events(self)


cdef class StockCore:
    """The stock core; see the module and `reference.py` for the rules."""

    cdef readonly object limits
    cdef int64_t quantity_max
    cdef int64_t ttl_max
    cdef int64_t open_holds_max
    cdef int64_t lines_per_order_max
    cdef KeyTable skus
    cdef KeyTable locations
    cdef Slot *slots
    cdef int32_t slot_count
    cdef int32_t slot_capacity
    cdef int32_t *sku_first         # per SKU: its first slot in allocation order
    cdef int32_t *sku_slot_count
    cdef int32_t sku_capacity
    cdef HoldTable holds
    cdef int64_t next_hold_id
    cdef list location_names        # location number -> str, filled on demand

    def __cinit__(self, limits=None):
        if keys_init(&self.skus) < 0 or keys_init(&self.locations) < 0:
            raise MemoryError("stock core: out of memory")
        if holds_init(&self.holds, 4) < 0:
            raise MemoryError("stock core: out of memory")
        self.next_hold_id = 1
        self.location_names = []

    def __init__(self, limits=None):
        self.limits = limits if limits is not None else StockLimits()
        self.quantity_max = self.limits.quantity_max
        self.ttl_max = self.limits.ttl_max
        self.open_holds_max = self.limits.open_holds_max
        self.lines_per_order_max = self.limits.lines_per_order_max

    def __dealloc__(self):
        keys_free(&self.skus)
        keys_free(&self.locations)
        holds_free(&self.holds)
        free(self.slots)
        free(self.sku_first)
        free(self.sku_slot_count)

    # names and slots

    cdef str sku_name(self, int32_t sku):
        return decode_key(&self.skus, sku)

    cdef str location_name(self, int32_t location):
        cdef list names = self.location_names
        while len(names) <= location:
            names.append(decode_key(&self.locations, len(names)))
        return names[location]

    def sku_index(self, sku):
        """The SKU's index for the compact API (order of first configure); -1 if unknown."""
        return find_key(&self.skus, sku)

    cdef int32_t slot_of(self, sku, location) except -3:
        """The slot's index, NO_SLOT_SKU or NO_SLOT_LOCATION."""
        cdef int32_t sku_number = find_key(&self.skus, sku)
        if sku_number < 0:
            return NO_SLOT_SKU
        cdef int32_t location_number = find_key(&self.locations, location)
        cdef int32_t s = self.sku_first[sku_number]
        while s >= 0 and location_number >= 0:
            if self.slots[s].location == location_number:
                return s
            s = self.slots[s].next
        return NO_SLOT_LOCATION

    cdef object no_slot(self, int32_t code, operation, sku, location, reference):
        if code == NO_SLOT_SKU:
            return rejections.unknown_sku(operation, sku, reference)
        return rejections.unknown_location(operation, sku, location, reference)

    def slot(self, sku, location):
        """One slot's state, or None when it is not configured."""
        cdef int32_t s = self.slot_of(sku, location)
        return None if s < 0 else self.slot_state(s)

    cdef object slot_state(self, int32_t s):
        cdef Slot *slot = &self.slots[s]
        return SlotState(
            self.sku_name(slot.sku), self.location_name(slot.location), slot.priority,
            slot.safety_stock, slot.backorder_limit, slot.on_hand, slot.reserved,
        )

    cdef int assert_slot(self, int32_t s) except -1:
        """The live invariants of one slot, checked after every change to it."""
        cdef Slot *slot = &self.slots[s]
        if (
            slot.on_hand < 0 or slot.reserved < 0 or slot.on_hand > self.quantity_max
            or not covers(slot, slot.on_hand, slot.safety_stock, slot.backorder_limit)
        ):
            raise InvariantError(f"slot broke an invariant: {self.slot_state(s)}")
        return 0

    # configure

    def configure(self, slots):
        check_items("configure", slots, self.limits)
        return [
            self.configure_one(sku, location, priority, safety_stock, backorder_limit)
            for sku, location, priority, safety_stock, backorder_limit in slots
        ]

    cdef object configure_one(self, sku, location, int64_t priority,
                              int64_t safety_stock, int64_t backorder_limit):
        limits = self.limits
        cdef Py_ssize_t size
        for field, key in (("sku", sku), ("location", location)):
            size = utf8_size(key)
            if not 1 <= size <= limits.key_bytes_max:
                return rejections.key_too_long("configure", field, key, size, limits.key_bytes_max)
        for field, value, high in (
            ("priority", priority, limits.priority_max),
            ("safety_stock", safety_stock, self.quantity_max),
            ("backorder_limit", backorder_limit, self.quantity_max),
        ):
            if not 0 <= value <= high:
                return rejections.out_of_range(
                    "configure", field, value, 0, high, sku=sku, location=location
                )
        cdef int32_t s = self.slot_of(sku, location)
        if s < 0:
            refused = self.refuse_new_slot(sku, location)
            if refused is not None:
                return refused
        elif not covers(&self.slots[s], self.slots[s].on_hand, safety_stock, backorder_limit):
            return rejections.uncovered_reservations(
                "configure", sku, location, "", self.slots[s].on_hand, safety_stock,
                backorder_limit, self.slots[s].reserved,
            )
        self.apply_configured(sku, location, priority, safety_stock, backorder_limit)
        return SlotConfigured(
            sku=sku, location=location, priority=priority, safety_stock=safety_stock,
            backorder_limit=backorder_limit,
        )

    cdef object refuse_new_slot(self, sku, location):
        limits = self.limits
        if self.slot_count >= limits.sku_slots_max:
            return rejections.limit_exceeded(
                "configure", f"sku_slots_max {limits.sku_slots_max} reached",
                sku=sku, location=location,
            )
        cdef int32_t sku_number = find_key(&self.skus, sku)
        if sku_number >= 0 and self.sku_slot_count[sku_number] >= limits.locations_per_sku_max:
            return rejections.limit_exceeded(
                "configure", f"locations_per_sku_max {limits.locations_per_sku_max} reached",
                sku=sku, location=location,
            )
        return None

    cdef int32_t apply_configured(self, sku, location, int64_t priority,
                                  int64_t safety_stock, int64_t backorder_limit) except -1:
        """Create or update a slot and put it in its place in the SKU's chain."""
        cdef int32_t s = self.slot_of(sku, location)
        if s < 0:
            s = self.new_slot(self.intern_sku(sku), intern_key(&self.locations, location))
        else:
            self.unlink(s)
        self.slots[s].priority = <int32_t>priority
        self.slots[s].safety_stock = safety_stock
        self.slots[s].backorder_limit = backorder_limit
        self.link(s)
        self.assert_slot(s)
        return s

    cdef int32_t intern_sku(self, sku) except -1:
        cdef int32_t capacity
        cdef void *first
        cdef void *counts
        if self.skus.count == self.sku_capacity:
            capacity = self.sku_capacity * 2 if self.sku_capacity else 16
            first = realloc(self.sku_first, capacity * sizeof(int32_t))
            if first != NULL:
                self.sku_first = <int32_t *>first
            counts = realloc(self.sku_slot_count, capacity * sizeof(int32_t))
            if first == NULL or counts == NULL:
                raise MemoryError("stock core: out of memory adding a SKU")
            self.sku_slot_count = <int32_t *>counts
            self.sku_capacity = capacity
        cdef int32_t before = self.skus.count
        cdef int32_t number = intern_key(&self.skus, sku)
        if number == before:
            self.sku_first[number] = -1
            self.sku_slot_count[number] = 0
        return number

    cdef int32_t new_slot(self, int32_t sku, int32_t location) except -1:
        cdef int32_t capacity
        cdef void *grown
        if self.slot_count == self.slot_capacity:
            capacity = self.slot_capacity * 2 if self.slot_capacity else 16
            grown = realloc(self.slots, capacity * sizeof(Slot))
            if grown == NULL:
                raise MemoryError("stock core: out of memory adding a slot")
            self.slots = <Slot *>grown
            self.slot_capacity = capacity
        cdef int32_t s = self.slot_count
        self.slot_count += 1
        self.slots[s] = Slot(0, 0, 0, 0, 0, sku, location, -1)
        return s

    cdef bint allocates_before(self, int32_t a, int32_t b):
        if self.slots[a].priority != self.slots[b].priority:
            return self.slots[a].priority < self.slots[b].priority
        return key_compare(&self.locations, self.slots[a].location, self.slots[b].location) < 0

    cdef void link(self, int32_t s):
        cdef int32_t sku = self.slots[s].sku
        cdef int32_t previous = -1
        cdef int32_t current = self.sku_first[sku]
        while current >= 0 and self.allocates_before(current, s):
            previous = current
            current = self.slots[current].next
        self.slots[s].next = current
        if previous < 0:
            self.sku_first[sku] = s
        else:
            self.slots[previous].next = s
        self.sku_slot_count[sku] += 1

    cdef void unlink(self, int32_t s):
        cdef int32_t sku = self.slots[s].sku
        cdef int32_t previous = -1
        cdef int32_t current = self.sku_first[sku]
        while current != s:
            previous = current
            current = self.slots[current].next
        if previous < 0:
            self.sku_first[sku] = self.slots[s].next
        else:
            self.slots[previous].next = self.slots[s].next
        self.sku_slot_count[sku] -= 1

    # receive, restock, adjust, set_on_hand

    def receive(self, items):
        check_items("receive", items, self.limits)
        return [
            self.add("receive", sku, location, quantity, reference)
            for sku, location, quantity, reference in items
        ]

    def restock(self, items):
        check_items("restock", items, self.limits)
        return [
            self.add("restock", sku, location, quantity, reference)
            for sku, location, quantity, reference in items
        ]

    cdef object add(self, operation, sku, location, int64_t quantity, reference):
        cdef int32_t s = self.slot_of(sku, location)
        if s < 0:
            return self.no_slot(s, operation, sku, location, reference)
        if not 1 <= quantity <= self.quantity_max:
            return rejections.out_of_range(
                operation, "quantity", quantity, 1, self.quantity_max,
                reference=reference, sku=sku, location=location,
            )
        cdef int64_t on_hand = self.slots[s].on_hand + quantity
        if on_hand > self.quantity_max:
            return self.on_hand_too_large(operation, sku, location, on_hand, reference)
        self.slots[s].on_hand = on_hand
        self.assert_slot(s)
        kind = StockReceived if operation == "receive" else StockRestocked
        return kind(
            sku=sku, location=location, quantity=quantity, reference=reference, on_hand=on_hand
        )

    cdef object on_hand_too_large(self, operation, sku, location, int64_t on_hand,
                                  reference):
        return rejections.limit_exceeded(
            operation, f"on_hand would be {on_hand}; quantity_max is {self.quantity_max}",
            reference=reference, sku=sku, location=location,
        )

    def adjust(self, items):
        check_items("adjust", items, self.limits)
        return [
            self.adjust_one(sku, location, delta, reason, reference)
            for sku, location, delta, reason, reference in items
        ]

    cdef object adjust_one(self, sku, location, int64_t delta, reason,
                           reference):
        cdef int32_t s = self.slot_of(sku, location)
        if s < 0:
            return self.no_slot(s, "adjust", sku, location, reference)
        if delta == 0 or not -self.quantity_max <= delta <= self.quantity_max:
            return rejections.out_of_range(
                "adjust", "delta", delta, -self.quantity_max, self.quantity_max,
                reference=reference, sku=sku, location=location,
            )
        return self.set_level("adjust", s, sku, location, self.slots[s].on_hand + delta, reason,
                              reference)

    def set_on_hand(self, items):
        check_items("set_on_hand", items, self.limits)
        return [
            self.set_on_hand_one(sku, location, quantity, expected, reason, reference)
            for sku, location, quantity, expected, reason, reference in items
        ]

    cdef object set_on_hand_one(self, sku, location, int64_t quantity, int64_t expected,
                                reason, reference):
        cdef int32_t s = self.slot_of(sku, location)
        if s < 0:
            return self.no_slot(s, "set_on_hand", sku, location, reference)
        if not 0 <= quantity <= self.quantity_max:
            return rejections.out_of_range(
                "set_on_hand", "quantity", quantity, 0, self.quantity_max,
                reference=reference, sku=sku, location=location,
            )
        if expected != self.slots[s].on_hand:
            return rejections.stale_expected(
                sku, location, reference, expected, self.slots[s].on_hand
            )
        return self.set_level("set_on_hand", s, sku, location, quantity, reason, reference)

    cdef object set_level(self, operation, int32_t s, sku, location, int64_t on_hand,
                          reason, reference):
        """Move on_hand to the level adjust or set_on_hand asked for."""
        cdef Slot *slot = &self.slots[s]
        if on_hand < 0:
            return rejections.insufficient(
                operation, f"on_hand would be {on_hand}",
                reference=reference, sku=sku, location=location,
            )
        if on_hand > self.quantity_max:
            return self.on_hand_too_large(operation, sku, location, on_hand, reference)
        if not covers(slot, on_hand, slot.safety_stock, slot.backorder_limit):
            return rejections.uncovered_reservations(
                operation, sku, location, reference, on_hand, slot.safety_stock,
                slot.backorder_limit, slot.reserved,
            )
        cdef int64_t delta = on_hand - slot.on_hand
        slot.on_hand = on_hand
        self.assert_slot(s)
        return StockAdjusted(
            sku=sku, location=location, delta=delta, reason=reason, reference=reference,
            on_hand=on_hand,
        )

    # reserve

    def reserve(self, orders, now):
        """Reserve each order's lines all or nothing; the events, in order."""
        packed = self.pack_orders(orders)
        if packed is None:
            # Not plainly well formed: the shared checks raise the error the
            # reference raises, or accept (say, str subclasses) and pack it slowly.
            check_orders(orders, self.limits)
            compact = CompactOrders.from_orders(orders, self.sku_index)
            packed = (
                compact.order_ids, compact.line_starts, compact.line_skus,
                compact.line_quantities, compact.ttls, compact.unknown_skus,
            )
        order_ids, line_starts, line_skus, line_quantities, ttls, unknown_skus = packed
        check_clock("reserve", now, self.limits)
        log = self.reserve_compact(
            order_ids, line_starts, line_skus, line_quantities, ttls, now, unknown_skus
        )
        return log.events()

    cdef object pack_orders(self, orders):
        """Plain orders as compact buffers (see `CompactOrders`), in one C pass.

        None when anything is not exactly a list or tuple of (str, [(str, int)],
        int) with 64-bit ints, or the batch is too large: `reserve` then takes
        the shared, slower path that says what is wrong.
        """
        if type(orders) is not list and type(orders) is not tuple:
            return None
        cdef Py_ssize_t count = len(orders)
        if count > self.limits.batch_size_max:
            return None
        cdef Py_ssize_t lines_total = 0
        for order in orders:
            if type(order) is not tuple or len(order) != 3:
                return None
            if type(order[1]) is not list and type(order[1]) is not tuple:
                return None
            lines_total += len(order[1])
        cdef carray.array starts = carray.clone(INT64_ARRAY, count + 1, False)
        cdef carray.array ttls = carray.clone(INT64_ARRAY, count, False)
        cdef carray.array skus = carray.clone(INT32_ARRAY, lines_total, False)
        cdef carray.array quantities = carray.clone(INT64_ARRAY, lines_total, False)
        cdef list order_ids = []
        cdef dict unknown = {}
        cdef Py_ssize_t i, line = 0
        cdef int32_t sku_number
        starts.data.as_longlongs[0] = 0
        for i in range(count):
            order_id, lines, ttl = orders[i]
            if type(order_id) is not str or type(ttl) is not int or len(lines) + line > lines_total:
                return None
            try:
                ttls.data.as_longlongs[i] = ttl
                for entry in lines:
                    if type(entry) is not tuple or len(entry) != 2:
                        return None
                    sku, quantity = entry
                    if type(sku) is not str or type(quantity) is not int:
                        return None
                    quantities.data.as_longlongs[line] = quantity
                    sku_number = find_key(&self.skus, sku)
                    if sku_number < 0:
                        sku_number = unknown.setdefault(sku, -len(unknown) - 1)
                    skus.data.as_ints[line] = sku_number
                    line += 1
            except (OverflowError, TypeError, ValueError):
                return None
            starts.data.as_longlongs[i + 1] = line
            order_ids.append(order_id)
        if line != lines_total:
            return None
        return order_ids, starts, skus, quantities, ttls, list(unknown)

    def reserve_compact(self, order_ids, const int64_t[::1] line_starts,
                        const int32_t[::1] line_skus, const int64_t[::1] line_quantities,
                        const int64_t[::1] ttls, now, unknown_skus=()):
        """`reserve` on the compact layout of `engine.stock.compact`; the hot path."""
        self.check_layout(order_ids, line_starts, line_skus, line_quantities, ttls, now,
                          len(unknown_skus))
        cdef ReserveLog log = ReserveLog.__new__(ReserveLog)
        log.core = self
        log.order_ids = order_ids
        log.unknown_skus = unknown_skus
        self.reserve_orders(log, line_starts, line_skus, line_quantities, ttls, now)
        return log

    cdef int check_layout(self, order_ids, const int64_t[::1] line_starts,
                          const int32_t[::1] line_skus, const int64_t[::1] line_quantities,
                          const int64_t[::1] ttls, now, Py_ssize_t unknown_count) except -1:
        cdef Py_ssize_t orders = len(order_ids)
        cdef Py_ssize_t i
        check_batch_size("reserve", orders, self.limits)
        check_clock("reserve", now, self.limits)
        if ttls.shape[0] != orders or line_starts.shape[0] != orders + 1:
            raise ValueError(layout_error("ttls needs one entry per order and line_starts one more"))
        if line_quantities.shape[0] != line_skus.shape[0] or line_starts[orders] != line_skus.shape[0]:
            raise ValueError(layout_error("line_starts must end at the number of lines"))
        if line_starts[0] != 0:
            raise ValueError(layout_error("line_starts must start at 0 and never decrease"))
        for i in range(orders):
            if line_starts[i] > line_starts[i + 1]:
                raise ValueError(layout_error("line_starts must start at 0 and never decrease"))
        for i in range(line_skus.shape[0]):
            if not -unknown_count <= line_skus[i] < self.skus.count:
                raise ValueError(layout_error("a line_skus entry names no SKU"))
        return 0

    cdef int reserve_orders(self, ReserveLog log, const int64_t[::1] line_starts,
                            const int32_t[::1] line_skus, const int64_t[::1] line_quantities,
                            const int64_t[::1] ttls, int64_t now) except -1:
        cdef Py_ssize_t order, line, start, end, lines
        cdef Py_ssize_t mark
        cdef int64_t ttl, figure = 0
        cdef int fault
        cdef LogRecord *rejection
        # Grow the hold table once for the batch rather than doubling as it fills.
        cdef int64_t holds_wanted = self.holds.count + line_skus.shape[0]
        if holds_reserve(&self.holds, min(holds_wanted, self.open_holds_max)) < 0:
            raise MemoryError("stock core: out of memory growing the hold table")
        for order in range(ttls.shape[0]):
            start = line_starts[order]
            end = line_starts[order + 1]
            lines = end - start
            ttl = ttls[order]
            line = start
            fault = 0
            if lines == 0:
                fault = FAULT_NO_LINES
            elif lines > self.lines_per_order_max:
                fault, figure = FAULT_TOO_MANY_LINES, lines
            elif not 1 <= ttl <= self.ttl_max:
                fault, figure = FAULT_TTL_OUT_OF_RANGE, ttl
            else:
                for line in range(start, end):
                    if line_skus[line] < 0:
                        fault = FAULT_UNKNOWN_SKU
                        break
                    if not 1 <= line_quantities[line] <= self.quantity_max:
                        fault = FAULT_QUANTITY_OUT_OF_RANGE
                        break
            if fault == 0:
                mark = log.count
                for line in range(start, end):
                    fault = self.allocate_line(
                        log, <int32_t>order, line_skus[line], line_quantities[line], now + ttl,
                        &figure,
                    )
                    if fault != 0:
                        self.roll_back(log, mark)
                        break
                if fault == 0:
                    continue
            rejection = log.append()
            rejection.hold_id = 0
            rejection.order = <int32_t>order
            rejection.fault = fault
            rejection.value = figure
            if fault <= FAULT_TTL_OUT_OF_RANGE:
                rejection.line = 0
                rejection.quantity = 0
                rejection.slot = NO_SKU_NAME
            else:
                rejection.line = <int32_t>(line - start)
                rejection.quantity = line_quantities[line]
                rejection.slot = line_skus[line]
        return 0

    cdef inline int allocate_line(self, ReserveLog log, int32_t order, int32_t sku,
                                  int64_t quantity, int64_t expires_at,
                                  int64_t *available) except -1:
        """Hold `quantity` of the SKU across its slots in allocation order.

        0 when done; otherwise the fault, with nothing held for this line
        beyond what `roll_back` will undo.
        """
        cdef int32_t s = self.sku_first[sku]
        cdef int64_t room, total = 0
        while s >= 0:
            room = headroom(&self.slots[s])
            if room > 0:
                total += room
            s = self.slots[s].next
        if total < quantity:
            available[0] = total
            return FAULT_INSUFFICIENT_STOCK
        cdef int64_t take, remaining = quantity
        cdef Slot *slot
        cdef Hold hold
        cdef LogRecord *record
        s = self.sku_first[sku]
        while remaining > 0:
            slot = &self.slots[s]
            room = headroom(slot)
            if room > 0:
                if self.holds.count >= self.open_holds_max:
                    available[0] = 0
                    return FAULT_OPEN_HOLDS_FULL
                take = room if room < remaining else remaining
                hold = Hold(self.next_hold_id, take, expires_at, s, 0)
                if holds_insert(&self.holds, &hold) < 0:
                    raise MemoryError("stock core: out of memory adding a hold")
                self.next_hold_id += 1
                slot.reserved += take
                if headroom(slot) < 0:
                    self.assert_slot(s)
                record = log.append()
                record.hold_id = hold.hold_id
                record.quantity = take
                record.value = expires_at
                record.reserved = slot.reserved
                record.order = order
                record.slot = s
                record.fault = 0
                remaining -= take
            s = slot.next
        return 0

    cdef int roll_back(self, ReserveLog log, Py_ssize_t mark) except -1:
        """Undo the holds a refused order issued, newest first, ids included."""
        cdef LogRecord *record
        cdef Hold *hold
        while log.count > mark:
            record = &log.records[log.count - 1]
            hold = holds_find(&self.holds, record.hold_id)
            if hold == NULL or record.hold_id != self.next_hold_id - 1:
                raise InvariantError(f"roll back: hold {record.hold_id} is not the newest open hold")
            holds_remove(&self.holds, hold)
            self.slots[record.slot].reserved -= record.quantity
            self.next_hold_id -= 1
            log.count -= 1
        return 0

    cdef list log_events(self, ReserveLog log):
        cdef list events = []
        cdef Py_ssize_t i
        cdef LogRecord *record
        cdef int32_t last_sku = -1
        cdef str sku = ""
        cdef Slot *slot
        order_ids = log.order_ids
        for i in range(log.count):
            record = &log.records[i]
            if record.fault != 0:
                events.append(self.order_rejection(log, record))
                continue
            slot = &self.slots[record.slot]
            if slot.sku != last_sku:
                last_sku = slot.sku
                sku = self.sku_name(last_sku)
            events.append(StockReserved(
                sku=sku, location=self.location_name(slot.location), hold_id=record.hold_id,
                order_id=order_ids[record.order], quantity=record.quantity,
                expires_at=record.value, reserved=record.reserved,
            ))
        return events

    cdef object order_rejection(self, ReserveLog log, const LogRecord *record):
        cdef int32_t sku = record.slot
        if sku == NO_SKU_NAME:
            name = ""
        elif sku < 0:
            name = log.unknown_skus[-sku - 1]
        else:
            name = self.sku_name(sku)
        return rejections.order_rejected(
            OrderFault(record.fault), log.order_ids[record.order], record.line, name,
            record.quantity, record.value, self.limits,
        )

    # confirm, release, ship, expire

    cdef Hold *open_hold(self, int64_t hold_id):
        return holds_find(&self.holds, hold_id)

    cdef object missing_hold(self, operation, int64_t hold_id):
        if not 1 <= hold_id < self.next_hold_id:
            return rejections.unknown_hold(operation, hold_id)
        return rejections.hold_ended(operation, hold_id)

    def confirm(self, hold_ids):
        check_hold_ids(hold_ids, self.limits)
        return [self.confirm_one(hold_id) for hold_id in hold_ids]

    cdef object confirm_one(self, int64_t hold_id):
        cdef Hold *hold = self.open_hold(hold_id)
        if hold == NULL:
            return self.missing_hold("confirm", hold_id)
        cdef Slot *slot = &self.slots[hold.slot]
        if hold.confirmed:
            return rejections.already_confirmed(
                hold_id, self.sku_name(slot.sku), self.location_name(slot.location)
            )
        hold.confirmed = 1
        return HoldConfirmed(
            sku=self.sku_name(slot.sku), location=self.location_name(slot.location),
            hold_id=hold_id, quantity=hold.quantity,
        )

    def release(self, items):
        check_releases(items, self.limits)
        return [self.release_one(hold_id, quantity) for hold_id, quantity in items]

    cdef object release_one(self, int64_t hold_id, object quantity):
        cdef Hold *hold = self.open_hold(hold_id)
        if hold == NULL:
            return self.missing_hold("release", hold_id)
        cdef int32_t s = hold.slot
        sku = self.sku_name(self.slots[s].sku)
        location = self.location_name(self.slots[s].location)
        cdef int64_t taken = hold.quantity if quantity is None else quantity
        if not 1 <= taken <= hold.quantity:
            return rejections.out_of_range(
                "release", "quantity", taken, 1, hold.quantity,
                sku=sku, location=location, hold_id=hold_id,
            )
        cdef int64_t remaining = self.take_from_hold(hold, taken)
        return HoldReleased(
            sku=sku, location=location, hold_id=hold_id, quantity=taken, remaining=remaining,
            reserved=self.slots[s].reserved,
        )

    cdef int64_t take_from_hold(self, Hold *hold, int64_t quantity) except -1:
        """Reduce a hold and its slot's reservation; the hold ends at zero.

        The hold pointer is invalid afterwards; the hold's remaining quantity
        is returned.
        """
        cdef int32_t s = hold.slot
        hold.quantity -= quantity
        self.slots[s].reserved -= quantity
        cdef int64_t remaining = hold.quantity
        if remaining == 0:
            holds_remove(&self.holds, hold)
        self.assert_slot(s)
        return remaining

    def ship(self, items):
        check_items("ship", items, self.limits)
        return [self.ship_one(hold_id, quantity) for hold_id, quantity in items]

    cdef object ship_one(self, int64_t hold_id, int64_t quantity):
        cdef Hold *hold = self.open_hold(hold_id)
        if hold == NULL:
            return self.missing_hold("ship", hold_id)
        cdef int32_t s = hold.slot
        sku = self.sku_name(self.slots[s].sku)
        location = self.location_name(self.slots[s].location)
        if not hold.confirmed:
            return rejections.hold_not_confirmed(hold_id, sku, location)
        if not 1 <= quantity <= hold.quantity:
            return rejections.out_of_range(
                "ship", "quantity", quantity, 1, hold.quantity,
                sku=sku, location=location, hold_id=hold_id,
            )
        if quantity > self.slots[s].on_hand:
            return rejections.insufficient(
                "ship",
                f"shipping {quantity} needs that much on hand; on_hand is {self.slots[s].on_hand}",
                sku=sku, location=location, hold_id=hold_id,
            )
        self.slots[s].on_hand -= quantity
        cdef int64_t remaining = self.take_from_hold(hold, quantity)
        return StockShipped(
            sku=sku, location=location, hold_id=hold_id, quantity=quantity, remaining=remaining,
            on_hand=self.slots[s].on_hand, reserved=self.slots[s].reserved,
        )

    def expire(self, now):
        """End due, unconfirmed holds: (expires_at, hold_id) order, batch_size_max at most.

        Scans the whole hold table (about 1 ms per million buckets) and sorts
        what is due: fine when called once per batch, not per order.
        """
        check_clock("expire", now, self.limits)
        cdef Py_ssize_t count = 0
        cdef Due *due = self.due_holds(now, &count)
        cdef Py_ssize_t i
        cdef Hold *hold
        cdef int32_t s
        cdef int64_t quantity
        cdef list events = []
        try:
            for i in range(min(count, self.limits.batch_size_max)):
                hold = holds_find(&self.holds, due[i].hold_id)
                s = hold.slot
                quantity = hold.quantity
                self.take_from_hold(hold, quantity)
                events.append(HoldExpired(
                    sku=self.sku_name(self.slots[s].sku),
                    location=self.location_name(self.slots[s].location),
                    hold_id=due[i].hold_id, quantity=quantity, reserved=self.slots[s].reserved,
                ))
        finally:
            free(due)
        return events

    cdef Due *due_holds(self, int64_t now, Py_ssize_t *count) except NULL:
        """Every open, unconfirmed hold due at `now`, sorted; the caller frees."""
        cdef Due *due = <Due *>malloc((self.holds.count + 1) * sizeof(Due))
        if due == NULL:
            raise MemoryError("stock core: out of memory collecting due holds")
        cdef int64_t i
        cdef Hold *hold
        for i in range(self.holds.mask + 1):
            hold = &self.holds.buckets[i]
            if hold.hold_id != 0 and not hold.confirmed and hold.expires_at <= now:
                due[count[0]] = Due(hold.expires_at, hold.hold_id)
                count[0] += 1
        qsort(due, count[0], sizeof(Due), due_order)
        return due

    # replay, state, snapshot, invariants

    def apply(self, events):
        """Rebuild state from a history; a payload that does not follow raises.

        Limits are not checked: a history records what was admitted then.
        Dispatch is on the exact type, most frequent first (isinstance on a
        msgspec Struct class goes through its metaclass and costs more than
        the replay itself); anything else, subclasses included, takes
        `replay_rare`, which keeps the isinstance rules.
        """
        for event in events:
            kind = type(event)
            if kind is StockReserved:
                self.replay_reserved(event)
            elif kind is HoldConfirmed:
                self.replay_confirmed(event)
            elif kind is StockShipped:
                self.replay_shipped(event)
            elif kind is HoldReleased:
                self.replay_ended(event, event.remaining)
            elif kind is HoldExpired:
                self.replay_ended(event, 0)
            elif kind is StockReceived or kind is StockRestocked:
                self.replay_movement(event, event.quantity)
            elif kind is not StockRejected:
                self.replay_rare(event)

    cdef int replay_rare(self, event) except -1:
        if isinstance(event, StockRejected):
            return 0
        if isinstance(event, SlotConfigured):
            self.apply_configured(
                event.sku, event.location, event.priority, event.safety_stock,
                event.backorder_limit,
            )
        elif isinstance(event, (StockReceived, StockRestocked)):
            self.replay_movement(event, event.quantity)
        elif isinstance(event, StockAdjusted):
            self.replay_movement(event, event.delta)
        elif isinstance(event, StockReserved):
            self.replay_reserved(event)
        elif isinstance(event, HoldConfirmed):
            self.replay_confirmed(event)
        elif isinstance(event, (HoldReleased, HoldExpired)):
            self.replay_ended(event, event.remaining if isinstance(event, HoldReleased) else 0)
        elif isinstance(event, StockShipped):
            self.replay_shipped(event)
        else:
            self.assert_slot(self.replayed_hold(event, getattr(event, "hold_id", 0)).slot)
        return 0

    cdef int32_t replayed_slot(self, event) except -1:
        cdef int32_t s = self.slot_of(event.sku, event.location)
        expect(s >= 0, event, "its slot was never configured")
        return s

    cdef int replay_movement(self, event, change) except -1:
        """Received, restocked or adjusted: on_hand moved by `change`."""
        cdef int32_t s = self.replayed_slot(event)
        on_hand = event.on_hand
        expect(adds_up(self.slots[s].on_hand, change, on_hand), event, "on_hand")
        self.slots[s].on_hand = on_hand
        self.assert_slot(s)
        return 0

    cdef int replay_reserved(self, event) except -1:
        cdef int32_t s = self.replayed_slot(event)
        hold_id = event.hold_id
        expect(same(self.next_hold_id, hold_id), event, "hold id out of sequence")
        self.insert_hold(hold_id, s, event.quantity, event.expires_at, False)
        self.next_hold_id += 1
        expect(same(self.slots[s].reserved, event.reserved), event, "reserved")
        self.assert_slot(s)
        return 0

    cdef int replay_confirmed(self, event) except -1:
        cdef Hold *hold = self.replayed_hold(event, event.hold_id)
        expect(not hold.confirmed and same(hold.quantity, event.quantity), event, "hold")
        hold.confirmed = 1
        self.assert_slot(hold.slot)
        return 0

    cdef int replay_ended(self, event, remaining_after) except -1:
        """Released (part or all) or expired: the hold gave back `quantity`."""
        cdef Hold *hold = self.replayed_hold(event, event.hold_id)
        cdef int32_t s = hold.slot
        cdef int64_t remaining = self.take_from_hold(hold, event.quantity)
        expect(
            same(remaining, remaining_after) and same(self.slots[s].reserved, event.reserved),
            event, "hold",
        )
        self.assert_slot(s)
        return 0

    cdef int replay_shipped(self, event) except -1:
        cdef Hold *hold = self.replayed_hold(event, event.hold_id)
        cdef int32_t s = hold.slot
        expect(hold.confirmed, event, "hold not confirmed")
        quantity = event.quantity
        self.slots[s].on_hand = minus(self.slots[s].on_hand, quantity)
        cdef int64_t remaining = self.take_from_hold(hold, quantity)
        expect(
            same(remaining, event.remaining) and same(self.slots[s].on_hand, event.on_hand)
            and same(self.slots[s].reserved, event.reserved),
            event, "hold",
        )
        self.assert_slot(s)
        return 0

    cdef Hold *replayed_hold(self, event, hold_id) except NULL:
        """The open hold a replayed event names, in the slot it names.

        Found by id, then its slot's names compared with the event's: cheaper
        than hashing both names to find the slot. When that fails, the slot
        is found by name first, so the error is the one that order gives.
        """
        sku = event.sku
        location = event.location
        cdef int64_t number
        cdef Hold *hold
        if figure(hold_id, &number):
            hold = self.open_hold(number)
            if hold != NULL and self.slot_named(hold.slot, sku, location):
                return hold
        cdef int32_t s = self.slot_of(sku, location)
        expect(s >= 0, event, "its slot was never configured")
        hold = self.open_hold(hold_id)
        expect(hold != NULL and hold.slot == s, event, "no such open hold in the slot")
        return hold

    cdef bint slot_named(self, int32_t s, sku, location) except -1:
        return (
            is_key(&self.skus, self.slots[s].sku, sku)
            and is_key(&self.locations, self.slots[s].location, location)
        )

    cdef int insert_hold(self, int64_t hold_id, int32_t s, int64_t quantity, int64_t expires_at,
                         bint confirmed) except -1:
        cdef Hold hold = Hold(hold_id, quantity, expires_at, s, confirmed)
        if quantity <= 0 or self.open_hold(hold_id) != NULL:
            raise InvariantError(f"hold {hold_id} of {quantity} cannot open")
        if holds_insert(&self.holds, &hold) < 0:
            raise MemoryError("stock core: out of memory adding a hold")
        self.slots[s].reserved += quantity
        return 0

    def state(self):
        cdef int32_t s
        slots = [self.slot_state(s) for s in range(self.slot_count)]
        slots.sort(key=slot_order)
        return StockState(slots=tuple(slots), holds=tuple(self.hold_states()),
                          next_hold_id=self.next_hold_id)

    cdef list hold_states(self):
        cdef list holds = []
        cdef int64_t i
        cdef Hold *hold
        cdef Slot *slot
        for i in range(self.holds.mask + 1):
            hold = &self.holds.buckets[i]
            if hold.hold_id != 0:
                slot = &self.slots[hold.slot]
                holds.append(HoldState(
                    hold.hold_id, self.sku_name(slot.sku), self.location_name(slot.location),
                    hold.quantity, hold.expires_at, bool(hold.confirmed),
                ))
        holds.sort(key=hold_order)
        return holds

    def snapshot(self):
        return encode_snapshot(self.limits, self.state())

    @classmethod
    def from_snapshot(cls, data):
        snapshot = decode_snapshot(data)
        cdef StockCore core = cls(snapshot.limits)
        core.load_slots(snapshot.state.slots)
        for hold in snapshot.state.holds:
            s = core.slot_of(hold.sku, hold.location)
            if s < 0:
                raise InvariantError(f"snapshot: hold {hold.hold_id} names no slot")
            core.insert_hold(hold.hold_id, s, hold.quantity, hold.expires_at, hold.confirmed)
        core.next_hold_id = snapshot.state.next_hold_id
        core.check_loaded(snapshot.state.slots)
        core.check_invariants()
        return core

    cdef int load_slots(self, slots) except -1:
        cdef int32_t s
        for slot in slots:
            s = self.apply_configured(
                slot.sku, slot.location, slot.priority, slot.safety_stock, slot.backorder_limit
            )
            self.slots[s].on_hand = slot.on_hand
        return 0

    cdef int check_loaded(self, slots) except -1:
        """Each slot's recorded reserved must be the sum of the holds loaded into it."""
        if len(slots) != self.slot_count:
            raise InvariantError("snapshot: a slot appears twice")
        for slot in slots:
            if self.slots[self.slot_of(slot.sku, slot.location)].reserved != slot.reserved:
                raise InvariantError(f"snapshot: reserved is not its holds' sum: {slot}")
        return 0

    def check_invariants(self):
        """Scan everything; raise `InvariantError` at the first broken rule."""
        cdef int64_t *held = <int64_t *>malloc((self.slot_count + 1) * sizeof(int64_t))
        if held == NULL:
            raise MemoryError("stock core: out of memory checking invariants")
        try:
            self.check_holds(held)
            self.check_slots(held)
            self.check_chains()
        finally:
            free(held)

    cdef int check_holds(self, int64_t *held) except -1:
        """Each open hold is positive, was issued, and sits in a real slot."""
        cdef int64_t i, count = 0
        cdef Hold *hold
        for i in range(self.slot_count):
            held[i] = 0
        for i in range(self.holds.mask + 1):
            hold = &self.holds.buckets[i]
            if hold.hold_id == 0:
                continue
            count += 1
            if not (
                hold.quantity > 0 and 1 <= hold.hold_id < self.next_hold_id
                and 0 <= hold.slot < self.slot_count and self.open_hold(hold.hold_id) == hold
            ):
                raise InvariantError(
                    f"hold {hold.hold_id} of {hold.quantity} in slot {hold.slot} is malformed"
                )
            held[hold.slot] += hold.quantity
        if count != self.holds.count or count > self.open_holds_max:
            raise InvariantError(f"{count} open holds, counted as {self.holds.count}")
        return 0

    cdef int check_slots(self, const int64_t *held) except -1:
        """Each slot's live invariants, and reserved is the sum of its open holds."""
        cdef int32_t s
        for s in range(self.slot_count):
            self.assert_slot(s)
            if (
                self.slots[s].safety_stock < 0 or self.slots[s].backorder_limit < 0
                or self.slots[s].reserved != held[s]
            ):
                raise InvariantError(
                    f"slot {self.slot_state(s)} does not match its holds' sum {held[s]}"
                )
        return 0

    cdef int check_chains(self) except -1:
        """Each SKU's chain holds exactly its slots, in allocation order."""
        cdef int32_t sku, s, following, length, total = 0
        for sku in range(self.skus.count):
            length = 0
            s = self.sku_first[sku]
            while s >= 0:
                following = self.slots[s].next
                if self.slots[s].sku != sku or (
                    following >= 0 and not self.allocates_before(s, following)
                ):
                    raise InvariantError(f"chain of SKU {self.sku_name(sku)!r} is broken")
                length += 1
                s = following
            if length != self.sku_slot_count[sku]:
                raise InvariantError(f"chain of SKU {self.sku_name(sku)!r} has {length} slots")
            total += length
        if total != self.slot_count:
            raise InvariantError(f"{self.slot_count - total} slots are missing from the chains")
        return 0


def slot_order(slot):
    return (slot.sku, slot.location)


def hold_order(hold):
    return hold.hold_id


cdef inline int expect(bint condition, event, str what) except -1:
    if not condition:
        raise InvariantError(f"replay: {event!r} does not follow from the state ({what})")
    return 0


# Replay reads a payload's figures as C integers when they are plain ints that
# fit, and otherwise does what Python arithmetic does with them, so a payload
# with a figure out of range fails as it always has.

cdef inline bint figure(value, int64_t *number) noexcept:
    """Is `value` an int (not a subclass) that fits in int64? If so, `number` is it."""
    cdef int overflow = 0
    if not PyLong_CheckExact(value):
        return False
    number[0] = PyLong_AsLongLongAndOverflow(value, &overflow)
    return overflow == 0


cdef inline bint same(int64_t have, value) except -1:
    """have == value, as Python compares them."""
    cdef int64_t number
    if figure(value, &number):
        return have == number
    return have == value


cdef inline bint adds_up(int64_t have, change, total) except -1:
    """have + change == total, as Python computes it (no int64 overflow)."""
    cdef int64_t step, sum_
    if figure(change, &step) and figure(total, &sum_):
        if (step > 0 and have > INT64_MAX - step) or (step < 0 and have < INT64_MIN - step):
            return False
        return have + step == sum_
    return have + change == total


cdef inline int64_t minus(int64_t have, change) except? -1:
    """have - change, as an int64; OverflowError when it does not fit."""
    cdef int64_t step
    if figure(change, &step) and (
        (step >= 0 and have >= INT64_MIN + step) or (step < 0 and have <= INT64_MAX + step)
    ):
        return have - step
    return have - change


cdef inline bint is_key(const KeyTable *table, int32_t key, name) except -1:
    """Is `name` the key numbered `key`? Compares bytes when it can, no hashing."""
    cdef Py_ssize_t size
    cdef const char *data
    if PyUnicode_CheckExact(name) and PyUnicode_IS_COMPACT_ASCII(name):
        data = key_bytes(table, key, &size)
        return size == PyUnicode_GET_LENGTH(name) and memcmp(data, PyUnicode_DATA(name), size) == 0
    return find_key(table, name) == key
