"""`make test` runs two pytest-xdist workers and the end-to-end tests on one of them (agora_testing.plugin): each
starts whole platforms, and two at once on two cores turn waits into timeouts. That rests on the plugin's group
mark reaching xdist, which broke unnoticed once already (pytest 9.2 ignores the test id xdist gives a group; the
plugin's hook ran after xdist's), so a CI run took twice as long with two platforms running at a time."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_end_to_end_tests_run_on_one_worker_and_the_others_on_both(tmp_path):
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["agora_testing.plugin"]\n')
    for folder, names in (("tests/e2e", "abcdef"), ("services/x/tests", "ghijkl")):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / f"test_{folder.split('/')[-2]}.py").write_text("import time\n" + "".join(
            f"\n\ndef test_{n}():\n    time.sleep(0.2)\n" for n in names))
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-v", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT / "tests")})
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    ran = re.findall(r"\[(gw\d)\] \[ *\d+%\] PASSED (\S+)", run.stdout)
    e2e = {(worker, test) for worker, test in ran if "tests/e2e/" in test}
    others = {(worker, test) for worker, test in ran if "tests/e2e/" not in test}
    assert len(e2e) == 6 and len(others) == 6, run.stdout[-2000:]
    assert all(test.endswith("@e2e") for _, test in e2e)
    assert len({worker for worker, _ in e2e}) == 1  # one worker: one platform at a time
