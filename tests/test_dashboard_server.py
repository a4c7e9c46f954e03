"""The dashboard in a real Prefect UI: one generation against a Prefect server on
127.0.0.1, then headless Chromium (Debian's `chromium`) opens the run's artifact pages,
takes screenshots and dumps the rendered DOM."""

from __future__ import annotations

import asyncio
import io
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.flow_helpers import free_port, prefect_client, prefect_env, wait_http, write_tiny_config

pytestmark = [pytest.mark.timeout(1500), pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def chromium(url: str, tmp: Path, *mode: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium on `url`; `mode` is --dump-dom or --screenshot=PATH."""
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp / 'chromium-profile'}", "--window-size=1400,2000",
        # The UI is a JavaScript app that fetches the artifact after loading: give it time.
        "--virtual-time-budget=30000", "--run-all-compositor-stages-before-draw",
    ]  # fmt: skip
    return subprocess.run([CHROMIUM, *flags, *mode, url], capture_output=True, text=True, timeout=240)


async def read_artifacts(api: str, home: str, keys: list[str]) -> dict[str, dict]:
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async with prefect_client(api) as client:
        arts = await client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=keys)))
    # Newest version of each key.
    out: dict[str, dict] = {}
    for a in sorted(arts, key=lambda a: a.created):
        out[a.key] = {"id": str(a.id), "data": a.data, "type": a.type}
    return out


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)")
def test_dashboard_renders_in_the_prefect_ui(tmp_path: Path) -> None:
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = prefect_env(tmp_path / "prefect-home", api_url=api)
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("prefect")), "server", "start", "--host", "127.0.0.1",
         "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        wait_http(f"{api}/health", 180)
        config = write_tiny_config(tmp_path)
        run = subprocess.run(
            [sys.executable, "-m", "zeroloop", "run", "--config", str(config), "--run-dir",
             str(tmp_path / "Alpha Run"), "--generations", "1"],
            env=env, capture_output=True, text=True, timeout=1000,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        keys = [
            "alpha-run-dashboard",
            "alpha-run-generation-1",
            "alpha-run-train-gen-1",
            "alpha-run-elo-ladder",
        ]
        arts = asyncio.run(read_artifacts(api, env["PREFECT_HOME"], keys))
        assert set(arts) == set(keys), arts.keys()
        assert "data:image/png;base64," in arts["alpha-run-dashboard"]["data"]
        assert "data:image/svg+xml;base64," in arts["alpha-run-generation-1"]["data"]

        base = f"http://127.0.0.1:{port}"
        for key, needle in (
            ("alpha-run-dashboard", "data:image/png"),
            ("alpha-run-generation-1", "data:image/svg"),
        ):
            url = f"{base}/artifacts/artifact/{arts[key]['id']}"
            dom = chromium(url, tmp_path, "--dump-dom")
            assert dom.returncode == 0, dom.stderr[-2000:]
            html = dom.stdout
            assert f"alpha-run: {'dashboard' if 'dashboard' in key else 'generation 1'}" in html, html[-3000:]
            assert f'src="{needle}' in html, "the markdown's image is not rendered as an <img>"
            # The page's own text, not the base64 image data: "404" turns up in a data URI by chance.
            page_text = re.sub(r"data:[^\"'\s]*", "", html)
            for error in ("Page not found", "Something went wrong"):
                assert error not in page_text, error
            assert not re.search(r">\s*404\s*<", page_text), "the page shows a 404"
            shot = tmp_path / f"{key}.png"
            done = chromium(url, tmp_path, f"--screenshot={shot}")
            assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
            image = Image.open(io.BytesIO(shot.read_bytes()))
            image.load()
            assert image.size == (1400, 2000)
            # Not a blank page: the charts and the board put many colours on it.
            assert len(image.convert("RGB").getcolors(maxcolors=1 << 20) or []) > 50
    finally:
        try:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(server.pid, signal.SIGKILL)
