"""The read API for ops: GET every read model, with filters and paging.

Its handlers go in `READ_HANDLERS`, one per read model, as the projections
(`projections/`) land; `app.py` mounts them beside the intake and /health.
The intake's token guard is on the intake's router only: a read endpoint
that needs one takes `TokenGuard` itself.
"""

from __future__ import annotations

from typing import Final

from litestar.types import ControllerRouterHandler

READ_HANDLERS: Final[list[ControllerRouterHandler]] = []
