#!/usr/bin/env python3
"""A bounded HTTP client for tests/forward.rs, run inside a namespace the
test made: GET http://HOST:PORT/PATH one request after the other, either
COUNT times or until STOPFILE exists (at most SECONDS). Prints "started",
then one JSON line: {"ok": [body, ...], "failed": [why, ...]}.

  client.py HOST PORT PATH SECONDS STOPFILE [COUNT]
"""
import json
import os
import socket
import sys
import time


def get(host, port, path):
    try:
        with socket.create_connection((host, port), timeout=5) as s:
            s.settimeout(15)
            s.sendall(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError as e:
        return None, f"{type(e).__name__}: {e}"
    text = data.decode(errors="replace")
    if not text.startswith("HTTP/1.") or " 200 " not in text.split("\r\n")[0]:
        return None, f"answer {text[:80]!r}"
    # busybox httpd ends a CGI's headers with "\n\n"; addresses come as
    # [::ffff:192.0.2.1] from its IPv6 socket.
    head_end = min(
        (i for i in (text.find("\r\n\r\n"), text.find("\n\n")) if i >= 0),
        default=len(text),
    )
    body = text[head_end:].strip()
    return body.replace("[::ffff:", "").replace("]", ""), None


def main():
    host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    seconds, stopfile = float(sys.argv[4]), sys.argv[5]
    count = int(sys.argv[6]) if len(sys.argv) > 6 else None
    print("started", flush=True)
    ok, failed = [], []
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        if count is not None and len(ok) + len(failed) >= count:
            break
        if count is None and os.path.exists(stopfile):
            break
        body, err = get(host, port, path)
        if err is None:
            ok.append(body)
        else:
            failed.append(err)
        if count is None:
            time.sleep(0.005)
    print(json.dumps({"ok": ok, "failed": failed}), flush=True)


main()
