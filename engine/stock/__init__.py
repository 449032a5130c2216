"""The stock core: SKU x location slots, holds with a TTL on a logical clock.

`StockCore` (Cython, `_core.pyx`) is the engine's; `ReferenceStock`
(`reference.py`) is the pure-Python oracle with the same API.
"""
