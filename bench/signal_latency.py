"""Latency from a situation being recognised to its signal on the operator's screen, with N live
cameras. Prints figures; asserts nothing.

    python bench/signal_latency.py                  # 8 cameras, 120 s
    python bench/signal_latency.py -n 8 -d 300 --database postgresql://postgres@127.0.0.1/test

The whole product runs as `veilleur serve` runs it (`veilleur.cli.server.build_server`: database,
supervisor with one process per camera and the shared detector pool, FastAPI under uvicorn),
on N cameras that each loop a 640×360 H.264 rendering of PETS 2009 S2L1 in real time with the
PETS zones (intrusion, wrong way; cool-down 30 s). An operator is logged in to the signal queue
in Debian's Chromium (Playwright); the page is instrumented to note, for every signal that
arrives on its live stream, the time of the next paint after the card was inserted.

Latency = that paint time − `occurred_at` (the moment the camera process recognised the
situation, after its minimum duration). In between: blurred snapshot and clip encoding in the
camera process, the pipe to the supervisor, the database commit with the files, the bus, the
server-sent event, the browser. Both clocks are this machine's. It also samples every camera's
lag and drops, to show whether they grow while the console is being served.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import numpy as np  # noqa: E402
from live_cameras import live_site, make_clip  # noqa: E402

from veilleur import store  # noqa: E402
from veilleur.cli.server import DEMO_PASSWORD, build_server, ensure_demo_accounts  # noqa: E402
from veilleur.config import SiteConfig  # noqa: E402
from veilleur.config.server import ServerSettings  # noqa: E402

CHROMIUM = os.environ.get("VEILLEUR_CHROMIUM", "/usr/bin/chromium")

#: Notes when each signal's card was painted: the next animation frame after the live stream's
#: handler (which inserts the card) has run.
INSTRUMENT = """
(() => {
  window.__painted = [];
  const Native = window.EventSource;
  window.EventSource = function (url, opts) {
    const es = new Native(url, opts);
    es.addEventListener("signal", (e) => {
      const sig = JSON.parse(e.data);
      const received = Date.now();
      requestAnimationFrame(() => setTimeout(() => {
        window.__painted.push({id: sig.id, occurred_at: sig.occurred_at,
                               received: received, painted: Date.now()});
      }, 0));
    });
    return es;
  };
  window.EventSource.prototype = Native.prototype;
})();
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile (q in 0..1): a value that was measured."""
    return float(np.percentile(values, 100 * q, method="nearest"))


def authorise(url: str, site: SiteConfig, hours: float = 1.0) -> None:
    """Live processing runs only inside an authorisation (SPEC §4): one for the bench's
    cameras and their situations, for `hours` (the gate stops the cameras when it ends)."""
    from veilleur.compliance.authorisations import AuthorisationInput

    now = datetime.now(UTC)
    situations = sorted(
        {sid for cam in site.cameras.values() for sid, s in cam.situations.items() if s.enabled}
    )
    data = AuthorisationInput(
        reference="bench — not a real decision", issuer="bench", controller="bench",
        rights_contact="not applicable", served_kind="transport_network",
        served_name="signal latency bench", perimeter="generated clips",
        cameras=sorted(site.cameras), situations=situations, recipient_services=["bench"],
        starts_at=now - timedelta(minutes=1), ends_at=now + timedelta(hours=hours),
    )  # fmt: skip
    engine = store.make_engine(url)
    try:
        with store.session_factory(engine)() as s:
            store.create_authorisation(s, data, actor="bench")
    finally:
        engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("-n", "--cameras", type=int, default=8)
    ap.add_argument("-d", "--seconds", type=float, default=120.0)
    ap.add_argument("--database", help="database URL (default: SQLite in a temporary folder)")
    args = ap.parse_args()

    import uvicorn
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="veilleur-latency-"))
    clip = make_clip(Path(tempfile.gettempdir()) / "veilleur-bench-pets-640x360.mp4")
    site = live_site(args.cameras, clip)
    url = args.database or store.default_url(tmp)
    settings = ServerSettings(data_dir=tmp, database_url=url, port=free_port())
    store.upgrade(url)
    ensure_demo_accounts(settings)
    authorise(url, site)
    server = build_server(settings, site, loop_files=True)
    uv = uvicorn.Server(
        uvicorn.Config(server.app, host="127.0.0.1", port=settings.port, log_level="warning")
    )
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    while not uv.started:
        time.sleep(0.1)
    base = f"http://127.0.0.1:{settings.port}"
    lags: dict[str, list[float]] = {name: [] for name in site.cameras}
    painted: list[dict[str, object]] = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.add_init_script(INSTRUMENT)
            page.goto(f"{base}/login?next=/signals")
            page.fill("input[name=username]", "operator")
            page.fill("input[name=password]", DEMO_PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url("**/signals*")
            print(
                f"{args.cameras} cameras, console open at {base}/signals; measuring "
                f"{args.seconds:.0f} s ...",
                flush=True,
            )
            t_end = time.monotonic() + args.seconds
            while time.monotonic() < t_end:
                page.wait_for_timeout(5000)
                for name, st in server.supervisor.status().items():
                    if st.state == "running":
                        lags[name].append(st.lag_s)
            painted = page.evaluate("window.__painted")
            browser.close()
        status = server.supervisor.status()
    finally:
        uv.should_exit = True
        thread.join(timeout=10)
        server.close()

    latencies = [
        float(p["painted"]) / 1000.0  # type: ignore[arg-type]
        - datetime.fromisoformat(str(p["occurred_at"])).timestamp()
        for p in painted
    ]
    print(f"\n{len(latencies)} signals painted in the operator's queue")
    if latencies:
        print(
            f"recognised → on screen: p50 {statistics.median(latencies):.3f} s, "
            f"p95 {percentile(latencies, 0.95):.3f} s, max {max(latencies):.3f} s"
        )
    print(
        f"\n{'camera':<8}{'state':>10}{'fps':>6}{'lag first':>11}{'lag last':>10}"
        f"{'lag p95':>9}{'dropped':>9}{'restarts':>10}"
    )
    for name, st in status.items():
        seq = lags[name] or [float("nan")]
        third = max(1, len(seq) // 3)
        first, last = statistics.mean(seq[:third]), statistics.mean(seq[-third:])
        print(
            f"{name:<8}{st.state:>10}{st.fps:>6.1f}{first:>11.2f}{last:>10.2f}"
            f"{percentile(seq, 0.95):>9.2f}{st.dropped_frames:>9}{st.restarts:>10}"
        )


if __name__ == "__main__":
    main()
