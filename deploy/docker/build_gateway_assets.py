"""Image build step for the gateway: the combined OpenAPI document and the Swagger UI files, in <out>/.

Each service's document comes from its FastAPI app (create_app() builds the app without connecting to
anything; the lifespan, which connects, is not run). The merger is the one local runs use.
"""

import importlib
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, "/src/gateway_merge")
from agora_openapi_merge import merge_openapi

SERVICES = ("users", "content", "events", "points", "search")


def main(out: Path) -> None:
    docs = {name: importlib.import_module(f"agora_{name}.main").create_app().openapi() for name in SERVICES}
    (out / "docs").mkdir(parents=True, exist_ok=True)
    (out / "openapi.json").write_text(json.dumps(merge_openapi(docs)))
    import swagger_ui_bundle

    for asset in Path(swagger_ui_bundle.swagger_ui_path).iterdir():
        if asset.suffix in (".js", ".css", ".png") and not asset.name.startswith("swagger-initializer"):
            shutil.copy(asset, out / "docs" / asset.name)
    shutil.copy("/src/docs-index.html", out / "docs" / "index.html")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
