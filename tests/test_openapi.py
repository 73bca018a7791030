"""The OpenAPI document is generated from the models that validate requests."""

from __future__ import annotations

from flask.testing import FlaskClient

from dashboard.sending.requests import EmailRequest


def test_openapi_document_describes_the_api(client: FlaskClient) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json
    assert document["openapi"].startswith("3.1")
    campaign_actions = ("confirm", "pause", "resume", "cancel", "retry-failed")
    assert set(document["paths"]) == {
        "/audit",
        "/emails",
        "/emails/{id}",
        "/tasks/{task_id}",
        "/stats",
        "/campaigns",
        "/campaigns/{id}",
        "/campaigns/{id}/invalid-rows.csv",
        *(f"/campaigns/{{id}}/{action}" for action in campaign_actions),
        "/webhooks",
        "/webhooks/{id}",
        "/webhooks/{id}/replay",
        "/accounts",
        "/accounts/{id}",
        "/pools",
        "/pools/{id}",
    }
    create = document["paths"]["/emails"]["post"]
    assert set(create["responses"]) == {"202", "400", "401", "403", "409", "413", "415", "422"}
    assert [p["name"] for p in create["parameters"]] == ["Idempotency-Key"]
    schemas = document["components"]["schemas"]
    request_schema = schemas["EmailRequest"]
    assert sorted(request_schema["required"]) == ["subject", "to"]
    assert request_schema["additionalProperties"] is False
    fields = {"to", "subject", "text", "html", "from", "account", "attachments", "send_at", "merge"}
    assert fields == set(request_schema["properties"])
    assert request_schema["properties"]["merge"]["default"] is False
    assert request_schema["properties"]["send_at"]["anyOf"][0]["format"] == "date-time"
    for name in ("EmailAccepted", "EmailStatus", "TaskStatus", "ErrorResponse", "StatsResponse"):
        assert name in schemas
    # An account's secrets go in, never out.
    assert {"password", "oauth_refresh_token"} <= set(schemas["AccountIn"]["properties"])
    assert not {"password", "secret", "oauth_refresh_token"} & set(
        schemas["AccountOut"]["properties"]
    )


def test_the_document_changes_with_the_model(client: FlaskClient) -> None:
    """One source of truth: the served schema is the validating model's schema."""
    served = client.get("/api/v1/openapi.json").json["components"]["schemas"]["EmailRequest"]
    model = EmailRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    model.pop("$defs", None)
    assert served == model
