"""The campaign endpoints' part of the OpenAPI document (merged by `openapi.build_openapi`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from dashboard.api.idempotency import key_parameter, replayed_header
from dashboard.campaigns.listing import MAX_PAGE_SIZE, PAGE_SIZE
from dashboard.campaigns.schemas import (
    CampaignActionOut,
    CampaignFields,
    CampaignListOut,
    CampaignOut,
)
from dashboard.reporting.paging import LARGEST_ID

CAMPAIGN_MODELS: list[tuple[type[BaseModel], str]] = [
    (CampaignFields, "validation"),
    (CampaignOut, "serialization"),
    (CampaignActionOut, "serialization"),
    (CampaignListOut, "serialization"),
]


def campaign_paths(ref, json_response, errors) -> dict[str, Any]:
    """Paths for creating, reading and acting on CSV campaigns."""
    id_param = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
    fields = CampaignFields.model_json_schema(by_alias=True)["properties"]
    upload_schema = {
        "type": "object",
        "required": ["file"],
        "properties": {
            "file": {
                "type": "string",
                "format": "binary",
                "description": "The CSV: UTF-8 (BOM or not) or UTF-16 with BOM; comma, "
                "semicolon or tab separated; a header row with an 'email' column.",
            },
            **fields,
        },
    }
    cursor = {"type": "integer", "minimum": 0, "maximum": LARGEST_ID}
    paths: dict[str, Any] = {
        "/campaigns": {
            "get": {
                "operationId": "listCampaigns",
                "summary": "The campaigns, newest first, a page at a time; follow `older`",
                "description": "Each with its status, counts by state and status_url; a "
                "sender sees their own campaigns, admins and viewers every one.",
                "parameters": [
                    {
                        "name": "before",
                        "in": "query",
                        "description": "The page cursor given in `older`",
                        "schema": cursor,
                    },
                    {
                        "name": "after",
                        "in": "query",
                        "description": "The page cursor given in `newer`",
                        "schema": cursor,
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "description": "Campaigns per page",
                        "schema": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": MAX_PAGE_SIZE,
                            "default": PAGE_SIZE,
                        },
                    },
                ],
                "responses": {
                    "200": json_response("CampaignListOut", "A page of campaigns"),
                    **errors(422),
                },
            },
            "post": {
                "operationId": "createCampaign",
                "summary": "Upload a CSV and templates; the import runs in the background",
                "description": "Checks the file's layout and the templates against its columns "
                "at once (422 naming the field), then imports the rows as drafts. Poll "
                "status_url until `import.status` is `ready` for the counts, the invalid rows "
                "and the first rendered messages, then confirm.",
                "parameters": [key_parameter()],
                "requestBody": {
                    "required": True,
                    "content": {"multipart/form-data": {"schema": upload_schema}},
                },
                "responses": {
                    "202": {
                        **json_response("CampaignOut", "Accepted; the import has started"),
                        "headers": {
                            "Location": {"schema": {"type": "string"}},
                            **replayed_header(),
                        },
                    },
                    **errors(400, 413, 415, 422),
                    "409": json_response(
                        "ErrorResponse",
                        "The first request with this Idempotency-Key is still in progress; "
                        "retry with the same key",
                    ),
                },
            },
        },
        "/campaigns/{id}": {
            "get": {
                "operationId": "getCampaign",
                "summary": "Import progress and preview, counts by state, speed and time left",
                "parameters": [id_param],
                "responses": {"200": json_response("CampaignOut", "The campaign"), **errors(404)},
            }
        },
        "/campaigns/{id}/invalid-rows.csv": {
            "get": {
                "operationId": "getCampaignInvalidRows",
                "summary": "Every invalid row of the campaign's file, as CSV",
                "description": "Columns line, email, reason (UTF-8 with a BOM, for Excel); "
                "a cell that a spreadsheet would run as a formula is prefixed with an "
                "apostrophe. Streamed: the whole list, not only the first rows in the JSON.",
                "parameters": [id_param],
                "responses": {
                    "200": {
                        "description": "The invalid rows",
                        "content": {"text/csv": {"schema": {"type": "string"}}},
                    },
                    **errors(404),
                },
            }
        },
    }
    summaries = {
        "confirm": "Send: queue the imported recipients and publish them to the bulk queue",
        "pause": "Stop handing out messages; batches in flight stop within a moment",
        "resume": "Queue the waiting messages again",
        "cancel": "Cancel every message not yet sent",
        "retry-failed": "Queue the failed messages for another try",
    }
    for action, summary in summaries.items():
        paths[f"/campaigns/{{id}}/{action}"] = {
            "post": {
                "operationId": "campaign" + action.title().replace("-", ""),
                "summary": summary,
                "parameters": [id_param],
                "responses": {
                    "200": json_response("CampaignActionOut", "Done"),
                    "409": json_response("ErrorResponse", "Not possible in the campaign's state"),
                    **errors(404),
                },
            }
        }
    return paths
