"""Property-based run of the API's OpenAPI document (schemathesis): generated requests for every operation,
and the documented search examples, get no 5xx, and every response matches the documented status codes,
content types and schemas. Bounded: derandomized, a few dozen examples per operation, well under a minute."""
from __future__ import annotations

import schemathesis
from filter_workspace import build
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (content_type_conformance, not_a_server_error, response_schema_conformance,
                                 status_code_conformance)

from ui.api.app import create_app
from ui.api.schemas import SEARCH_EXAMPLES
from ui.api.security import ServeSettings

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = {"POST /v1/search": 40}


def test_every_operation_conforms_to_its_schema(tmp_path) -> None:
    ws, _ids = build(tmp_path)
    try:
        schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(ws, ServeSettings(allow_writes=True),
                                                                              warm=False))
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) == 12  # every route, writes included
        for operation in operations:
            @given(case=operation.as_strategy())
            @settings(max_examples=EXAMPLES.get(operation.label, 12), deadline=None, derandomize=True,
                      database=None, suppress_health_check=list(HealthCheck))
            def run(case) -> None:  # noqa: ANN001
                case.call_and_validate(checks=CHECKS)

            run()
        search = schema["/v1/search"]["POST"]
        for body in SEARCH_EXAMPLES:  # the documented examples succeed, and conform
            response = search.Case(body=body, media_type="application/json").call_and_validate(checks=CHECKS)
            assert response.status_code == 200 and response.json()["items"], (body, response.text)
    finally:
        ws.close()
