"""Unit tests of the OpenAPI merger and the template renderer (no servers)."""

import pytest
from agora_devservers.gateway import TEMPLATE, merge_openapi, render_config


def _doc(path: str, schema_name: str, schema: dict, op_id: str = "get_thing") -> dict:
    return {
        "openapi": "3.1.0",
        "paths": {
            path: {"get": {"operationId": op_id, "responses": {"200": {"content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{schema_name}"}}}}}}},
            "/healthz": {"get": {"operationId": "healthz"}},
        },
        "components": {"schemas": {schema_name: schema, "Shared": {"type": "string"}}},
    }


def test_identical_schemas_are_kept_once_and_clashes_renamed_with_their_refs():
    merged = merge_openapi({
        "users": _doc("/api/v1/users/me", "Thing", {"type": "object", "properties": {"a": {}}}),
        "content": _doc("/api/v1/content/x", "Thing", {"type": "object", "properties": {"b": {}}}),
    })
    schemas = merged["components"]["schemas"]
    assert set(schemas) == {"Thing", "ContentThing", "Shared"}
    ref = merged["paths"]["/api/v1/content/x"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ref == {"$ref": "#/components/schemas/ContentThing"}
    assert merged["paths"]["/api/v1/content/x"]["get"]["operationId"] == "content_get_thing"
    assert merged["paths"]["/api/v1/users/me"]["get"]["tags"] == ["users"]
    assert "/healthz" not in merged["paths"]
    assert {t["name"] for t in merged["tags"]} == {"users", "content"}


def test_missing_services_are_named():
    merged = merge_openapi({}, missing=["search"])
    assert merged["info"]["x-agora-missing-services"] == ["search"]
    assert "search" in merged["info"]["description"]


def test_render_refuses_a_template_with_placeholders_left(tmp_path):
    template = tmp_path / "t.conf"
    template.write_text("listen __LISTEN__; pid __RUN_DIR__/x.pid;")
    assert render_config({"LISTEN": "1", "RUN_DIR": "/r"}, template) == "listen 1; pid /r/x.pid;"
    with pytest.raises(ValueError, match="__RUN_DIR__"):
        render_config({"LISTEN": "1"}, template)
    assert TEMPLATE.exists()
