"""What hostile requests cost the real server (issue 12). Prints figures; asserts nothing.

    python bench/hostile_requests.py            # a 52 MB anonymous POST, 25 wrong passwords
    python bench/hostile_requests.py --mb 200

Starts `veilleur serve` on 127.0.0.1 (a fresh data folder, one camera without authorisation, so
no camera runs), then:

- sends an anonymous POST of `--mb` MB to /api/session, once with Content-Length and once
  chunked, and prints the answer, its time and the server's resident memory before and after
  (before the body limit, 52 MB cost about 200 MB);
- tries 25 wrong passwords for one account, then the right one, and prints the answers (before
  the throttle: 25 × 401 then 200, each failure journaled).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


def rss_mb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+)", status)
    return int(match.group(1)) // 1024 if match else -1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def post(port: int, body: bytes | Iterator[bytes], chunked: bool) -> tuple[str, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    t0 = time.monotonic()
    try:
        conn.request(
            "POST", "/api/session", body=body, encode_chunked=chunked,
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        answer = str(conn.getresponse().status)
    except OSError as exc:  # answered (413) and closed while the client was still sending
        answer = f"connection closed by the server ({type(exc).__name__})"
    finally:
        conn.close()
    return answer, time.monotonic() - t0


def login(port: int, password: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = json.dumps({"username": "admin", "password": password})
    conn.request("POST", "/api/session", body=body, headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    r.read()
    conn.close()
    retry = r.getheader("Retry-After")
    return f"{r.status}" + (f" (Retry-After {retry})" if retry else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=52, help="size of the hostile body, in MB")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="veilleur-bench-") as tmp:
        config = Path(tmp, "site.yaml")
        config.write_text("cameras:\n  c:\n    source: absent.mp4\n")
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-c", "from veilleur.cli import app; app()", "serve", "-c",
             str(config), "--data-dir", str(Path(tmp, "data")), "--port", str(port)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, "TMPDIR": tmp},
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            password = None
            for raw in proc.stdout:
                line = raw.decode(errors="replace")
                found = re.search(r"with\s+password\s+(\S+)", line)
                password = found.group(1) if found else password
                if "Uvicorn running" in line:
                    break
            body = b"x" * (args.mb * 1024 * 1024)
            print(f"server resident memory at rest: {rss_mb(proc.pid)} MB")
            for chunked in (False, True):
                data: bytes | Iterator[bytes] = (
                    (body[i : i + (1 << 20)] for i in range(0, len(body), 1 << 20))
                    if chunked
                    else body
                )
                answer, took = post(port, data, chunked)
                how = "chunked" if chunked else "with Content-Length"
                print(
                    f"anonymous {args.mb} MB POST {how}: {answer} in {took:.2f} s; "
                    f"server memory after: {rss_mb(proc.pid)} MB"
                )
            answers = [login(port, "wrong password") for _ in range(25)]
            print("25 wrong passwords:", ", ".join(answers))
            print("then the right one:", login(port, password or "?"))
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
