"""`python -m agora_points.worker`: the points processor as a stand-alone process (for deployments that run
it as its own workload). It is the same application as the API process: the stream processor and the query
API share one in-memory state, so this process also answers the API, /metrics, /healthz and /readyz, on
AGORA_WORKER_METRICS_PORT (default 8004)."""

import os

import uvicorn


def main() -> None:
    uvicorn.run(
        "agora_points.main:create_app", factory=True,
        host=os.environ.get("AGORA_WORKER_HOST", "0.0.0.0"),  # a container's only interface
        port=int(os.environ.get("AGORA_WORKER_METRICS_PORT", "8004")),
        access_log=False,
    )


if __name__ == "__main__":
    main()
