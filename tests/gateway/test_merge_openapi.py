"""Unit tests of the OpenAPI merger and the template renderer (no servers)."""

import pytest
from agora_devservers.gateway import TEMPLATE, merge_openapi, render_config
from agora_devservers.openapi_merge import CREATED_IDS, add_links


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


def _op(op_id: str, status: str = "200") -> dict:
    return {"operationId": op_id, "responses": {status: {"description": "ok"}}}


def test_a_creating_operation_links_to_the_operations_on_what_it_created():
    doc = {"paths": {
        "/api/v1/content/questions": {"post": _op("ask", "201")},
        "/api/v1/content/questions/{question_id}": {"get": _op("get-question")},
        "/api/v1/content/questions/{question_id}/answers": {"post": _op("answer", "201")},
        "/api/v1/content/answers/{answer_id}": {"get": _op("get-answer")},
        "/api/v1/content/posts/{post_id}/vote": {"put": _op("vote")},
        "/api/v1/content/tags/{tag}/posts/{post_id}": {"delete": _op("untag")},
    }}
    add_links(doc, {("post", "/api/v1/content/questions"): ("question_id", "post_id"),
                    ("post", "/api/v1/content/questions/{question_id}/answers"): ("answer_id", "post_id"),
                    ("post", "/api/v1/content/absent"): ("absent_id",)})
    asked = doc["paths"]["/api/v1/content/questions"]["post"]["responses"]["201"]["links"]
    assert asked == {
        "get-question": {"operationId": "get-question", "parameters": {"question_id": "$response.body#/id"}},
        "answer": {"operationId": "answer", "parameters": {"question_id": "$response.body#/id"}},
        "vote": {"operationId": "vote", "parameters": {"post_id": "$response.body#/id"}},
    }  # not "untag": its {tag} is nowhere in the creating request
    answered = doc["paths"]["/api/v1/content/questions/{question_id}/answers"]["post"]["responses"]["201"]["links"]
    assert set(answered) == {"get-answer", "vote"}
    assert "links" not in doc["paths"]["/api/v1/content/posts/{post_id}/vote"]["put"]["responses"]["200"]


def test_every_declared_creating_operation_exists_and_answers_201_with_an_id():
    """CREATED_IDS against the services' own documents (their apps are built, nothing is started): a route renamed
    or moved must not silently drop the links the stateful fuzz follows."""
    import importlib

    docs = {name: importlib.import_module(f"agora_{name}.main").create_app().openapi()
            for name in ("users", "content", "events", "points", "search")}
    merged = merge_openapi(docs)
    for (method, path), names in CREATED_IDS.items():
        created = merged["paths"][path][method]["responses"]["201"]
        schema = created["content"]["application/json"]["schema"]
        ref = schema["$ref"].rsplit("/", 1)[-1]
        assert "id" in merged["components"]["schemas"][ref]["properties"], (method, path)
        targets = [link["parameters"] for link in created["links"].values()]
        for name in names:
            assert any(parameters.get(name) == "$response.body#/id" for parameters in targets), (path, name)
