"""The stock core: SKU x location slots, holds with a TTL on a logical clock.

Where things are:

- `_core.pyx` (`StockCore`): the Cython core the engine runs; `_keys.pxd` and
  `_holds.pxd` are its interned keys and its table of open holds.
- `reference.py` (`ReferenceStock`): the pure-Python oracle with the same API;
  its docstring states the rules both follow.
- `model.py`: that shared API as a Protocol. `commands.py`: the shapes of the
  batch items and their checks. `compact.py`: the integer-buffer form of a
  reserve batch for the hot path. `limits.py`: `StockLimits`.
- `rejections.py`: every `StockRejected` and its wording. `state.py`: the
  comparable state and its snapshot. `errors.py`: `InvariantError`.
- `events.py`: the payloads, the contract with the rest of the engine.
"""
