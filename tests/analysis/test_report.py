"""The HTML report: self-contained, built from a Recording alone, and clean in a real browser.

The browser test loads the report in headless chromium driven over the DevTools protocol on a
pipe (``--remote-debugging-pipe``, stdlib only) and checks, from the browser's own events: every
request is the report itself or one of its ``data:`` images (no network request of any kind), no
console message, log entry or exception at error level, every ``<img>`` decoded, and a
non-blank screenshot. The same harness run on a page that does fetch and log an error must flag
both, so the check can fail. It skips only when chromium is absent and
``FASTWEIGHTS_REQUIRE_BROWSER`` is unset (CI sets it).
"""

from __future__ import annotations

import base64
import fcntl
import io
import json
import os
import re
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("matplotlib", reason="needs matplotlib: pip install fastweights[plots]")

from fastweights.analysis import Recording, record
from fastweights.analysis.report import render_report, write_report
from fastweights.models import FWPModel, ModelConfig

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-pipe",
    "--window-size=1000,1400",
]
IMG = re.compile(r'<img [^>]*src="([^"]*)"')


def _model(mixer: str, seed: int = 0) -> FWPModel:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        config = ModelConfig(
            mixer=mixer, d_model=8, n_heads=2, n_layers=1, mlp_ratio=0, vocab_size=5
        )
        return FWPModel(config).eval()


@pytest.fixture(scope="module")
def recordings() -> tuple[Recording, Recording]:
    x = torch.randint(0, 5, (1, 8), generator=torch.Generator().manual_seed(0))
    return record(_model("delta"), x), record(_model("softmax"), x)


@pytest.fixture(scope="module")
def report(recordings, tmp_path_factory) -> Path:
    delta, softmax = recordings
    run = {"source": "a test", "targets": [None] * 7 + ["3"], "predictions": [None] * 7 + ["3"]}
    return write_report(
        delta, tmp_path_factory.mktemp("report") / "delta.html", run=run, compare=[softmax]
    )


@pytest.mark.slow  # a full report (every picture, the GIF) or a browser
def test_the_report_walks_through_the_run_with_every_picture(report: Path) -> None:
    text = report.read_text(encoding="utf-8")
    for section in ("model", "task", "input", "layer-0"):
        assert f'id="{section}"' in text
    for name in (
        "weights",
        "filmstrip",
        "measures",
        "beta",
        "traffic",
        "graph",
        "attention",
        "gif",
    ):
        assert f'id="layer-0-{name}"' in text
    assert "parameters</td><td>" + f"{_model('delta').num_parameters():,}" in text
    assert '<div class="tok ok">' in text  # the scored step where the answer is right
    sources = IMG.findall(text)
    assert len(sources) == 8
    kinds = {src.split(";")[0] for src in sources}
    assert kinds == {"data:image/png", "data:image/gif"}
    for src in sources:
        data = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert data[:4] in (b"\x89PNG", b"GIF8")


@pytest.mark.slow  # a full report (every picture, the GIF) or a browser
def test_the_report_fetches_nothing_by_construction(report: Path) -> None:
    text = report.read_text(encoding="utf-8")
    assert "Content-Security-Policy" in text and "default-src 'none'" in text
    for pattern in (
        r"<script",
        r"<link",
        r"<iframe",
        r"@import",
        r"url\(",
        r"https?:",
        r"""(src|href)=["']?//""",
    ):
        assert not re.search(pattern, text, re.IGNORECASE), pattern
    assert all(href.startswith("#") for href in re.findall(r'href="([^"]*)"', text))


def test_the_report_comes_from_the_recording_alone(recordings, tmp_path: Path) -> None:
    delta, _ = recordings
    delta.save(tmp_path / "delta.npz")
    again = Recording.load(tmp_path / "delta.npz")
    options = {"pictures": ["beta", "attention"], "gif": False}
    assert render_report(again, **options) == render_report(delta, **options)


def test_cells_get_their_own_pictures_and_missing_extras_are_noted(monkeypatch) -> None:
    x = torch.randint(0, 5, (1, 3), generator=torch.Generator().manual_seed(1))
    srwm = render_report(record(_model("srwm"), x), pictures=["srwm_updates"], gif=False)
    assert 'id="layer-0-srwm_updates"' in srwm and 'id="layer-0-weights"' not in srwm
    srnet = render_report(
        record(_model("srnet1993"), x), pictures=["srnet_reads_writes"], gif=False
    )
    assert 'id="layer-0-srnet_reads_writes"' in srnet
    lstm = render_report(record(_model("lstm"), x))
    assert "has no fast weights to show" in lstm and "<img" not in lstm
    monkeypatch.setitem(sys.modules, "networkx", None)
    noted = render_report(record(_model("sum"), x), pictures=["graph"], gif=False)
    assert "skipped" in noted and "fastweights[graph]" in noted and "<img" not in noted


def test_bad_arguments_are_clear(recordings, tmp_path: Path) -> None:
    delta, _ = recordings
    with pytest.raises(TypeError, match="expected a Recording"):
        render_report(delta.layers[0])
    with pytest.raises(ValueError, match="unknown pictures"):
        render_report(delta, pictures=["weights", "nope"])
    with pytest.raises(FileNotFoundError, match="no folder"):
        write_report(delta, tmp_path / "missing" / "r.html")


# --- the browser ---------------------------------------------------------------------------


def _chromium() -> str:
    found = next(
        (shutil.which(n) for n in ("chromium", "chromium-browser") if shutil.which(n)), None
    )
    if found is None:
        if os.environ.get("FASTWEIGHTS_REQUIRE_BROWSER"):
            pytest.fail("FASTWEIGHTS_REQUIRE_BROWSER is set but chromium is not installed")
        pytest.skip(
            "chromium is not installed (apt-get install chromium); set "
            "FASTWEIGHTS_REQUIRE_BROWSER=1 to make this a failure"
        )
    return found


class DevTools:
    """A DevTools-protocol client over chromium's pipe: JSON messages ended by NUL bytes."""

    def __init__(self, chromium: str, profile: Path) -> None:
        to_browser, self._write = os.pipe()
        self._read, from_browser = os.pipe()
        # the browser reads commands on fd 3 and writes replies and events on fd 4; the child's
        # ends move above 9 first, so bash's "3<&r 4>&w" cannot clobber one with the other
        ends = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_browser, from_browser)]
        for fd in (to_browser, from_browser):
            os.close(fd)
        command = [
            "bash",
            "-c",
            f'exec "$0" "$@" 3<&{ends[0]} 4>&{ends[1]}',
            chromium,
            *FLAGS,
            f"--user-data-dir={profile}",
            "about:blank",
        ]
        self.process = subprocess.Popen(
            command, pass_fds=ends, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for fd in ends:
            os.close(fd)
        self._buffer, self._id, self.events = b"", 0, []

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._id += 1
        message = {"id": self._id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        reply = self.wait(lambda m: m.get("id") == self._id)
        assert "error" not in reply, reply
        return reply["result"]

    def wait(self, match, timeout: float = 90.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "id" not in message:
                    self.events.append(message)
                if match(message):
                    return message
            left = deadline - time.monotonic()
            assert left > 0, "chromium did not answer in time"
            if select.select([self._read], [], [], left)[0]:
                chunk = os.read(self._read, 1 << 20)
                assert chunk, "chromium closed the DevTools pipe"
                self._buffer += chunk

    def close(self) -> None:
        try:
            os.write(self._write, json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0")
            self.process.wait(timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        finally:
            os.close(self._write)
            os.close(self._read)


def load_page(path: Path, profile: Path) -> tuple[list[dict], dict, bytes]:
    """Open ``path`` in headless chromium: its events, a page summary and a screenshot (PNG)."""
    browser = DevTools(_chromium(), profile)
    try:
        targets = browser.send("Target.getTargets")["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        session = browser.send(
            "Target.attachToTarget", {"targetId": page["targetId"], "flatten": True}
        )["sessionId"]
        for domain in ("Network", "Runtime", "Log", "Page"):
            browser.send(f"{domain}.enable", session=session)
        browser.send("Page.navigate", {"url": path.resolve().as_uri()}, session=session)
        browser.wait(lambda m: m.get("method") == "Page.loadEventFired")
        summary = browser.send(
            "Runtime.evaluate",
            {
                "returnByValue": True,
                "expression": (
                    "({title: document.title, images: document.images.length, decoded: Array.from("
                    "document.images).filter(i => i.complete && i.naturalWidth > 0).length, "
                    "figures: document.querySelectorAll('figure').length})"
                ),
            },
            session=session,
        )
        shot = browser.send("Page.captureScreenshot", {"format": "png"}, session=session)
        return browser.events, summary["result"]["value"], base64.b64decode(shot["data"])
    finally:
        browser.close()


def problems(events: list[dict], page: Path) -> tuple[list[str], list[str]]:
    """The requests other than the page and its data: URIs; the errors the page caused."""
    own = page.resolve().as_uri()
    requests = [
        e["params"]["request"]["url"] for e in events if e["method"] == "Network.requestWillBeSent"
    ]
    outside = [url for url in requests if url != own and not url.startswith("data:")]
    errors = [
        json.dumps(e["params"])[:200]
        for e in events
        if e["method"] == "Runtime.exceptionThrown"
        or (e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
        or (
            e["method"] == "Runtime.consoleAPICalled"
            and e["params"]["type"] in ("error", "assert", "warning")
        )
    ]
    return outside, errors


@pytest.mark.slow  # a full report (every picture, the GIF) or a browser
def test_the_report_loads_in_a_browser_without_errors_or_requests(
    report: Path, tmp_path: Path
) -> None:
    events, summary, shot = load_page(report, tmp_path / "profile")
    outside, errors = problems(events, report)
    assert outside == [] and errors == []
    assert summary["title"] == "delta on an unnamed task"
    assert summary["images"] == summary["decoded"] == 8 and summary["figures"] == 8
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(shot)).convert("L"), dtype=float)
    assert pixels.size > 500_000 and pixels.std() > 5  # a full window, and something drawn


@pytest.mark.slow  # a full report (every picture, the GIF) or a browser
def test_the_browser_check_catches_requests_and_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<!DOCTYPE html><title>bad</title><img src="http://fastweights.invalid/x.png">'
        '<script>console.error("boom")</script>'
    )
    events, summary, _ = load_page(bad, tmp_path / "profile")
    outside, errors = problems(events, bad)
    assert outside == ["http://fastweights.invalid/x.png"]
    assert any("boom" in e for e in errors) and summary["decoded"] == 0


SRNET_PICTURES = ("srnet_reads_writes", "srnet_microsteps", "srnet_machinery", "srnet_traffic",
                  "srnet_integral")  # fmt: skip


@pytest.fixture(scope="module")
def srnet_report(tmp_path_factory) -> Path:
    """A 1993 net fed feedback on its eval units (the meta-learning setting), every picture."""
    from fastweights.tasks import MetaAssociation

    task = MetaAssociation(n_items=3, n_labels=3, length=6)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        config = ModelConfig(mixer="srnet1993", d_model=8, n_heads=2, n_layers=1, mlp_ratio=0,
                             d_input=task.d_input, n_out=task.n_out,
                             feedback=task.feedback_dims)  # fmt: skip
        model = FWPModel(config).eval()
    x = task.sample(1, torch.Generator().manual_seed(0)).x
    folder = tmp_path_factory.mktemp("srnet")
    return write_report(record(model, x, task=task), folder / "srnet.html", gif=False)


@pytest.mark.slow  # every picture of a 1993 net, and a browser
def test_the_1993_net_report_shows_it_from_inside_in_a_browser(
    srnet_report: Path, tmp_path: Path
) -> None:
    text = srnet_report.read_text(encoding="utf-8")
    for name in SRNET_PICTURES:
        assert f'id="layer-0-{name}"' in text
    events, summary, _ = load_page(srnet_report, tmp_path / "profile")
    outside, errors = problems(events, srnet_report)
    assert outside == [] and errors == []
    assert summary["images"] == summary["decoded"] == summary["figures"] >= len(SRNET_PICTURES)


def test_the_1993_net_pictures_need_every_step() -> None:
    from fastweights.analysis.plots import pictures_for

    x = torch.randint(0, 5, (1, 5), generator=torch.Generator().manual_seed(1))
    every = record(_model("srnet1993"), x).layers[0]
    sparse = record(_model("srnet1993"), x, every=2).layers[0]
    assert set(SRNET_PICTURES) <= set(pictures_for(every))
    assert not {"srnet_microsteps", "srnet_integral"} & set(pictures_for(sparse))
