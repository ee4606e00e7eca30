"""Merges the services' OpenAPI documents into the gateway's one (stdlib only: the gateway image build
copies this file alone, see deploy/docker/build_gateway_assets.py)."""

import copy


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
    return merged
