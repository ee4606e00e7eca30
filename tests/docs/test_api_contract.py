"""One API contract across the services: readable operationIds, one error body declared on every error
response (FastAPI's own 422 shape gone), 503 with Retry-After on every API operation, and one error schema in
the gateway's combined document."""

import importlib
import re

import pytest
from agora_devservers.openapi_merge import merge_openapi

SERVICES = ["users", "content", "events", "points", "search"]
ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}


@pytest.fixture(scope="module")
def documents() -> dict[str, dict]:
    return {svc: importlib.import_module(f"agora_{svc}.main").create_app().openapi() for svc in SERVICES}


def operations(doc: dict):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            yield path, method, op


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_has_a_readable_id_and_declares_the_error_body(documents, service):
    doc = documents[service]
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    for path, method, op in operations(doc):
        where = f"{method.upper()} {path}"
        assert re.fullmatch(rf"{service}-[a-z0-9]+(-[a-z0-9]+)+", op["operationId"]), where
        errors = {status: r for status, r in op["responses"].items() if status[0] in "45"}
        for status, response in errors.items():
            assert response["content"]["application/json"]["schema"] == ERROR_REF, f"{where} {status}"
        if path.startswith("/api/v1/"):
            assert "Retry-After" in op["responses"]["503"]["headers"], where
            assert path.startswith(f"/api/v1/{service}"), where  # the prefix comes from the service's name
        if "requestBody" in op:
            assert "400" in errors and "422" in errors, where


def test_the_combined_document_has_one_error_schema(documents):
    merged = merge_openapi(documents)
    error_schemas = sorted(name for name in merged["components"]["schemas"] if "Error" in name)
    assert error_schemas == ["ErrorBody", "ErrorDetail"]
    ids = [op["operationId"] for _, _, op in operations(merged)]
    assert len(ids) == len(set(ids)) and not any("_api_v1_" in i for i in ids)


def test_the_examples_in_the_documents_are_valid_requests():
    from pydantic import BaseModel

    checked = 0
    for service in SERVICES:
        module = importlib.import_module(f"agora_{service}.api.schemas")
        for model in vars(module).values():
            if isinstance(model, type) and issubclass(model, BaseModel) and "json_schema_extra" in model.model_config:
                for example in model.model_config["json_schema_extra"]["examples"]:
                    model.model_validate(example)
                    checked += 1
    assert checked >= 8
