"""A bounded schemathesis pass over the OpenAPI document: valid and invalid inputs to every operation, as a
signed-in user, with no 5xx and every response conforming to the document (status, content type,
headers, body schema); invalid inputs must be rejected with a 4xx.

Examples per operation and mode: YOLOFORGE_FUZZ_EXAMPLES (default 12; about 25 s for the whole pass on
2 cores). Run more locally with YOLOFORGE_FUZZ_EXAMPLES=200.
"""

from __future__ import annotations

import os

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.generation import GenerationMode  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.platform.conftest import upload  # noqa: E402

EXAMPLES = int(os.environ.get("YOLOFORGE_FUZZ_EXAMPLES", "12"))
POSITIVE = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
            response_schema_conformance]  # fmt: skip
NEGATIVE = [not_a_server_error, status_code_conformance, negative_data_rejection]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_fuzz_the_api(app, client, alice, coco8_zip) -> None:
    client.post("/api/v1/projects", headers=alice.auth(), json={"name": "detector"})
    assert upload(client, alice, coco8_zip, "coco8").status_code == 201
    spare = client.post("/api/v1/keys", headers=alice.auth(), json={"name": "spare", "scope": "read"}).json()
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    known = {"owner": "alice", "key_id": spare["id"]}  # key_id fixed: the fuzzer must not revoke its own key
    calls = {"positive": 0, "negative": 0}
    for result in schema.get_all_operations():
        operation = result.ok()
        names = {p.name for p in operation.path_parameters}
        fixed = {k: v for k, v in known.items() if k in names}
        for mode, checks in ((GenerationMode.POSITIVE, POSITIVE), (GenerationMode.NEGATIVE, NEGATIVE)):
            strategy = operation.as_strategy(generation_mode=mode, path_parameters=fixed or None)
            try:
                _run(strategy, checks, alice.auth(), calls, mode.value)
            except Unsatisfiable:  # nothing to make invalid (an operation without inputs, e.g. GET /health)
                assert mode is GenerationMode.NEGATIVE, f"{operation.label}: no valid input could be generated"
    print(f"\nfuzz: {sum(1 for _ in schema.get_all_operations())} operations, {calls} calls, no 5xx, all conforming")
    assert calls["positive"] >= 20 and calls["negative"] >= 10


def _run(strategy: st.SearchStrategy, checks: list, headers: dict[str, str], calls: dict[str, int], mode: str) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def one(case) -> None:
        calls[mode] += 1
        case.call_and_validate(headers=headers, checks=checks)

    one()
