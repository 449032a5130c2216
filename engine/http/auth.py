"""Bearer tokens: the storefronts' key to the intake."""

from __future__ import annotations

import hmac
from typing import Any, Final

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler

BEARER: Final = "bearer "
SECURITY_SCHEME: Final = "bearer"
_CHALLENGE: Final = {"WWW-Authenticate": 'Bearer realm="stockledger"'}


class TokenGuard:
    """A Litestar guard: 401 unless `Authorization: Bearer <one of the tokens>`."""

    def __init__(self, tokens: tuple[str, ...]) -> None:
        self._tokens = tuple(token.encode() for token in tokens)

    def __call__(self, connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        header = connection.headers.get("authorization")
        if header is None or not header[: len(BEARER)].lower() == BEARER:
            raise NotAuthorizedException("send Authorization: Bearer <token>", headers=_CHALLENGE)
        if not self.accepts(header[len(BEARER) :].strip().encode()):
            raise NotAuthorizedException("the bearer token is not valid", headers=_CHALLENGE)

    def accepts(self, given: bytes) -> bool:
        # Every token is compared, each in constant time, so the time taken
        # tells nothing about how much of which token was right.
        matched = False
        for token in self._tokens:
            matched |= hmac.compare_digest(given, token)
        return matched
