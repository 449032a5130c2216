"""Schemathesis against the server's own OpenAPI document: no request gets a 5xx.

Bodies are drawn from the document's command schemas (msgspec's, the ones the
intake decodes with), so many are real commands that the engine decides on
the module's store, in random order; the rest probe the edges of the schema.
(Schemathesis's pytest fixtures do not run on this pytest, so hypothesis
drives each operation's strategy here.)
"""

from __future__ import annotations

from typing import Final

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.engine.http.server import TOKEN

EXAMPLES_PER_OPERATION: Final = 200


def test_no_request_gets_a_server_error(server: str) -> None:
    api = schemathesis.openapi.from_url(f"{server}/openapi.json")
    operations = [result.ok() for result in api.get_all_operations()]
    assert {op.label for op in operations} >= {"POST /commands", "GET /health"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            derandomize=True,  # the same examples on every run: CI is reproducible
        )
        def no_server_error(case: schemathesis.Case) -> None:
            case.call_and_validate(
                base_url=server,
                headers={"Authorization": f"Bearer {TOKEN}"},
                checks=[not_a_server_error],
            )

        no_server_error()
