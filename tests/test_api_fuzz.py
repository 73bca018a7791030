"""The API, fuzzed from its own OpenAPI document: whatever schemathesis sends, the answer is
never a 500 and always matches the document (status, content type, headers, body schema)."""

from __future__ import annotations

import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from dashboard.api.openapi import build_openapi
from dashboard.auth.api_docs import add_bearer_auth
from tests.conftest import AdminIdentity

# Bounded so the whole fuzz run stays well under a minute on a shared 2-core machine.
EXAMPLES_PER_OPERATION = 40

# The document exactly as the app serves it (the first test checks that it is the same).
DOCUMENT = add_bearer_auth(build_openapi())
schema = schemathesis.openapi.from_dict(DOCUMENT)
# Every call below carries the token, so a generated case left without it (to see it refused)
# would be sent with it anyway and taken for an API that ignores a missing token; the refusals
# without a token, or with a bad one, are tested by the access tests.
schema.config.generation.update(with_security_parameters=False)


def test_the_fuzzed_document_is_the_served_one(client: FlaskClient) -> None:
    assert client.get("/api/v1/openapi.json").json == DOCUMENT


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented(
    case, app: Flask, admin_identity: AdminIdentity
) -> None:
    case.operation.schema.app = app  # the checks send probes (e.g. without the token) here too
    case.call_and_validate(
        app=app,
        headers={"Authorization": f"Bearer {admin_identity.token}"},
        # Addresses must be valid and a body given: rules JSON Schema cannot state, so a
        # schema-valid body may rightly get a 422 (which the document declares).
        excluded_checks=[positive_data_acceptance],
    )
