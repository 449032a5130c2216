"""The application `create_app` builds."""

from __future__ import annotations

import warnings
from pathlib import Path

from litestar.exceptions import LitestarDeprecationWarning

from engine.http.app import create_app
from engine.http.settings import HttpSettings


def test_every_handler_declares_where_its_parameters_come_from(tmp_path: Path) -> None:
    # Litestar 2 only warns, as it builds the app, of a parameter whose source (path or
    # query) it has to infer from the route; Litestar 3 refuses such a handler.
    settings = HttpSettings(
        f"sqlite:///{tmp_path / 'store.db'}", ("token",), f"sqlite:///{tmp_path / 'read.db'}"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", LitestarDeprecationWarning)
        create_app(settings)
