"""Merges the services' OpenAPI documents into the gateway's one (stdlib only: the gateway image build
copies this file alone, see deploy/docker/build_gateway_assets.py)."""

import copy
import re

# OpenAPI links: the path parameters that the `id` in a creating operation's 201 response fills (the resource's
# own name first, then what else it is: questions, answers and articles are posts). merge_openapi links each such
# response to every operation taking one of those parameters, so clients and the stateful fuzz can follow a
# resource from its creation (ask a question, answer it, vote on the answer; create an event, publish it...).
CREATED_IDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("post", "/api/v1/users/sigs"): ("sig_id",),
    ("post", "/api/v1/content/questions"): ("question_id", "post_id"),
    ("post", "/api/v1/content/questions/{question_id}/answers"): ("answer_id", "post_id"),
    ("post", "/api/v1/content/articles"): ("article_id", "post_id"),
    ("post", "/api/v1/content/resources"): ("resource_id",),
    ("post", "/api/v1/events"): ("event_id",),
    ("post", "/api/v1/events/series"): ("series_id",),
    ("post", "/api/v1/events/{event_id}/registrations"): ("registration_id",),
    ("post", "/api/v1/events/{event_id}/exam/attempts"): ("attempt_id",),
    ("post", "/api/v1/users/groups"): ("group_id",),
    ("post", "/api/v1/users/groups/{group_id}/announcements"): ("announcement_id",),
    ("post", "/api/v1/users/surveys"): ("survey_id",),
}
_PATH_PARAMETER = re.compile(r"\{(\w+)\}")


def _rewrite_refs(node, renames: dict[str, str]):
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                prefix, _, name = v.rpartition("/")
                out[k] = f"{prefix}/{renames.get(name, name)}" if prefix == "#/components/schemas" else v
            else:
                out[k] = _rewrite_refs(v, renames)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v, renames) for v in node]
    return node


def merge_openapi(docs: dict[str, dict], *, missing: list[str] | None = None) -> dict:
    """Merge per-service OpenAPI documents into one.

    Only the public API (/api/v1/...) is kept: /healthz, /readyz and /metrics are per-pod concerns. A schema
    name two services define differently is renamed `<Service><Name>` in the second one, refs included.
    Operations get their service as a tag when they have none, and operationIds are made unique.
    """
    merged: dict = {
        "openapi": "3.1.0",
        "info": {
            "title": "Agora API",
            "version": "v1",
            "description": "One entry point for every Agora service; each path is served by the service "
            "named in it. Send `Authorization: Bearer <access token>` where an operation needs a user.",
        },
        "servers": [{"url": "/"}],
        "paths": {},
        "components": {"schemas": {}, "securitySchemes": {}},
        "tags": [],
    }
    schemas = merged["components"]["schemas"]
    security_schemes = merged["components"]["securitySchemes"]
    operation_ids: set[str] = set()
    tag_names: set[str] = set()
    for service, original in docs.items():
        doc = copy.deepcopy(original)
        renames: dict[str, str] = {}
        for name, schema in doc.get("components", {}).get("schemas", {}).items():
            if name in schemas and schemas[name] != schema:
                renames[name] = f"{service.capitalize()}{name}"
        doc = _rewrite_refs(doc, renames)
        for name, schema in doc.get("components", {}).get("schemas", {}).items():
            schemas.setdefault(renames.get(name, name), schema)
        for name, scheme in doc.get("components", {}).get("securitySchemes", {}).items():
            security_schemes.setdefault(name, scheme)
        for tag in doc.get("tags", []):
            if tag.get("name") not in tag_names:
                tag_names.add(tag.get("name"))
                merged["tags"].append(tag)
        for path, item in doc.get("paths", {}).items():
            if not path.startswith("/api/v1/"):
                continue
            for method, op in item.items():
                if not isinstance(op, dict) or method.startswith("x-") or method == "parameters":
                    continue
                op.setdefault("tags", [service])
                op_id = op.get("operationId")
                if op_id:
                    if op_id in operation_ids:
                        op_id = f"{service}_{op_id}"
                        op["operationId"] = op_id
                    operation_ids.add(op_id)
            merged["paths"][path] = item
        if service not in tag_names and any(
            service in (op.get("tags") or [])
            for p, item in doc.get("paths", {}).items() if p.startswith("/api/v1/")
            for op in item.values() if isinstance(op, dict)
        ):
            tag_names.add(service)
            merged["tags"].append({"name": service, "description": f"The {service} service"})
    if missing:
        merged["info"]["description"] += f"\n\nNot answering when this document was built: {', '.join(missing)}."
        merged["info"]["x-agora-missing-services"] = missing
    if not security_schemes:
        del merged["components"]["securitySchemes"]
    add_links(merged)
    return merged


def add_links(doc: dict, created_ids: dict[tuple[str, str], tuple[str, ...]] = CREATED_IDS) -> None:
    """Link each creating operation's 201 response (see CREATED_IDS) to the operations on what it created: the
    `id` in the response body fills the target's parameter, and the target's other path parameters come from the
    creating request's own path (a target needing any other one is not linked). Absent operations are skipped."""
    targets = [(path, method, op) for path, item in doc["paths"].items() for method, op in item.items()
               if isinstance(op, dict) and op.get("operationId")]
    for (method, path), names in created_ids.items():
        response = doc["paths"].get(path, {}).get(method, {}).get("responses", {}).get("201")
        if response is None:
            continue
        own = set(_PATH_PARAMETER.findall(path))
        links = {}
        for target_path, _, target in targets:
            wanted = _PATH_PARAMETER.findall(target_path)
            filled = [name for name in wanted if name in names]
            if len(filled) != 1 or not set(wanted) - set(filled) <= own:
                continue
            links[target["operationId"]] = {
                "operationId": target["operationId"],
                "parameters": {name: "$response.body#/id" if name in filled else f"$request.path.{name}"
                               for name in wanted},
            }
        if links:
            response.setdefault("links", {}).update(links)
