"""Render an HTML file in headless Chromium: check that it loads cleanly and take a screenshot.

Chromium is driven through the DevTools protocol over a pipe
(``--remote-debugging-pipe``: commands on file descriptor 3, replies on 4, each
message JSON ended by a NUL byte), with the Python standard library only. Network
access is cut off inside the browser (every host name resolves to nothing), so a
report that referred to anything outside itself would show up as a failed request
and a console error rather than quietly loading it.

Used by the report's browser test and by ``docs/make_screenshot.py``, which makes
the committed ``docs/report.png`` with the same code.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["find_chromium", "inspect_html", "screenshot_html", "ChromiumError"]

_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


class ChromiumError(RuntimeError):
    """Chromium could not be started or did not answer."""


def find_chromium():
    """Path of a Chromium executable (``$CHROMIUM`` first, then the PATH), or None."""
    env = os.environ.get("CHROMIUM")
    if env and shutil.which(env):
        return shutil.which(env)
    for name in _CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


class _Pipe:
    """A DevTools protocol connection over Chromium's debugging pipe."""

    def __init__(self, proc, write_fd, read_fd, timeout):
        self.proc, self.wfd, self.rfd, self.timeout = proc, write_fd, read_fd, timeout
        self.buf = b""
        self.next_id = 0
        self.events = []

    def _read_message(self, deadline):
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ChromiumError("Chromium did not answer in time")
            ready, _, _ = select.select([self.rfd], [], [], min(left, 1.0))
            if not ready:
                if self.proc.poll() is not None:
                    raise ChromiumError(f"Chromium exited with status {self.proc.returncode}")
                continue
            chunk = os.read(self.rfd, 1 << 20)
            if not chunk:
                raise ChromiumError("Chromium closed the debugging pipe")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method, params=None, session=None):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        data = json.dumps(msg).encode() + b"\0"
        while data:
            n = os.write(self.wfd, data)
            data = data[n:]
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise ChromiumError(f"{method}: {reply['error'].get('message', reply['error'])}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method, session=None):
        deadline = time.monotonic() + self.timeout
        for i, ev in enumerate(self.events):
            if ev.get("method") == method and (session is None or ev.get("sessionId") == session):
                return ev
        while True:
            ev = self._read_message(deadline)
            self.events.append(ev)
            if ev.get("method") == method and (session is None or ev.get("sessionId") == session):
                return ev


def _high_fd(fd):
    import fcntl

    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return new


def _console_errors(events):
    """Human-readable error messages among the collected protocol events."""
    out = []
    for ev in events:
        method, p = ev.get("method"), ev.get("params", {})
        if method == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            out.append("exception: " + str(d.get("exception", {}).get("description") or d.get("text")))
        elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
            out.append(f"console.{p.get('type')}: {args}")
        elif method == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            e = p["entry"]
            out.append(f"{e.get('source', 'log')}: {e.get('text', '')} {e.get('url', '')}".strip())
        elif method == "Network.loadingFailed":
            out.append(f"request failed: {p.get('errorText', '')}")
    return out


_IMAGES_JS = """
Promise.all(Array.from(document.images).map(img =>
  (img.complete ? Promise.resolve() : new Promise(r => { img.onload = r; img.onerror = r; }))
  .then(() => img.decode().then(() => true, () => false))
  .then(decoded => ({alt: img.alt, src: img.src.slice(0, 40), complete: img.complete,
                     naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight, decoded: decoded}))
)).then(imgs => JSON.stringify({
  images: imgs, title: document.title,
  height: Math.ceil(document.documentElement.scrollHeight),
  width: Math.ceil(document.documentElement.scrollWidth),
  sections: Array.from(document.querySelectorAll('section[id]')).map(s => s.id)
}))
"""


def inspect_html(html_path, png_path=None, width=1280, height=900, full_page=True, max_height=None,
                 timeout=60, chromium=None):
    """Open an HTML file in headless Chromium and report how it loaded.

    Parameters
    ----------
    html_path : str or Path
        Local HTML file.
    png_path : str or Path, optional
        Where to write a PNG screenshot (atomically); none is taken when omitted.
    width, height : int
        Viewport size in CSS pixels.
    full_page : bool
        Capture the whole page height rather than the viewport.
    max_height : int, optional
        Crop a full-page capture to this many pixels from the top.
    timeout : float
        Seconds to wait for any single browser answer.
    chromium : str, optional
        Chromium executable; found with :func:`find_chromium` by default.

    Returns
    -------
    dict
        ``title``; ``images`` (list of dicts with ``alt``, ``complete``,
        ``naturalWidth``, ``naturalHeight``, ``decoded``); ``console_errors`` (list
        of str: exceptions, console.error calls, error log entries, failed requests);
        ``requests`` (URLs the page requested other than the file itself and
        ``data:`` URIs); ``sections`` (ids of ``<section>`` elements); ``height``,
        ``width`` (page size in CSS pixels); ``screenshot`` (path or None).

    Raises
    ------
    FileNotFoundError
        If the HTML file or Chromium is missing.
    ChromiumError
        If the browser fails to start or to answer.
    """
    html_path = Path(html_path).resolve()
    if not html_path.is_file():
        raise FileNotFoundError(f"{html_path}: no such file")
    exe = chromium or find_chromium()
    if exe is None:
        raise FileNotFoundError("chromium not found (install Debian's chromium package, e.g. `make browser`)")
    url = html_path.as_uri()
    with tempfile.TemporaryDirectory(prefix="sparselrp-chromium-") as profile:
        cmd_r, cmd_w = os.pipe()  # we write commands, Chromium reads fd 3
        rep_r, rep_w = os.pipe()  # Chromium writes replies on fd 4, we read
        # move the child's ends above 9 so that dup2 onto 3 and 4 cannot clobber one of them
        cmd_r, rep_w = (_high_fd(fd) for fd in (cmd_r, rep_w))
        args = [
            exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-extensions", "--disable-quic",
            "--disable-default-apps", "--mute-audio", "--hide-scrollbars", "--remote-debugging-pipe",
            "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={profile}",
            f"--window-size={int(width)},{int(height)}", "about:blank",
        ]
        stderr = tempfile.TemporaryFile()

        def _child_fds():  # in the child, before exec: the pipe ends go to fds 3 and 4
            os.dup2(cmd_r, 3)
            os.dup2(rep_w, 4)

        try:
            # close_fds=False: would close 3 and 4 after _child_fds; Python's own descriptors
            # are close-on-exec anyway (PEP 446), dup2's copies are not
            proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
                                    close_fds=False, preexec_fn=_child_fds)
        finally:
            os.close(cmd_r)
            os.close(rep_w)
        conn = _Pipe(proc, cmd_w, rep_r, timeout)
        try:
            target = conn.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = conn.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                conn.send(f"{domain}.enable", session=session)
            conn.send("Emulation.setDeviceMetricsOverride",
                      {"width": int(width), "height": int(height), "deviceScaleFactor": 1, "mobile": False},
                      session=session)
            n_before = len(conn.events)
            nav = conn.send("Page.navigate", {"url": url}, session=session)
            if nav.get("errorText"):
                raise ChromiumError(f"{html_path}: {nav['errorText']}")
            conn.wait_event("Page.loadEventFired", session)
            res = conn.send("Runtime.evaluate", {"expression": _IMAGES_JS, "awaitPromise": True,
                                                 "returnByValue": True}, session=session)
            if "exceptionDetails" in res:
                raise ChromiumError(f"page inspection failed: {res['exceptionDetails'].get('text')}")
            info = json.loads(res["result"]["value"])
            shot = None
            if png_path is not None:
                h = info["height"] if full_page else int(height)
                if max_height:
                    h = min(h, int(max_height))
                conn.send("Emulation.setDeviceMetricsOverride",
                          {"width": int(width), "height": int(h), "deviceScaleFactor": 1, "mobile": False},
                          session=session)
                data = conn.send("Page.captureScreenshot",
                                 {"format": "png", "captureBeyondViewport": True, "fromSurface": True,
                                  "clip": {"x": 0, "y": 0, "width": int(width), "height": int(h), "scale": 1}},
                                 session=session)["data"]
                from .._atomic import atomic_open

                with atomic_open(png_path, "wb") as fh:
                    fh.write(base64.b64decode(data))
                shot = Path(png_path)
            events = conn.events[n_before:]
            requests = [ev["params"]["request"]["url"] for ev in events
                        if ev.get("method") == "Network.requestWillBeSent"]
            info["requests"] = [u for u in requests if u != url and not u.startswith("data:")]
            info["console_errors"] = _console_errors(events)
            info["screenshot"] = shot
            try:
                conn.send("Browser.close")
            except ChromiumError:
                pass
            return info
        except ChromiumError as exc:
            stderr.seek(0)
            tail = stderr.read().decode(errors="replace").strip().splitlines()[-5:]
            raise ChromiumError(f"{exc}" + (f" (chromium stderr: {' | '.join(tail)})" if tail else "")) from None
        finally:
            os.close(cmd_w)
            os.close(rep_r)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            stderr.close()


def screenshot_html(html_path, png_path, width=1280, max_height=None, timeout=60, chromium=None):
    """Write a full-page PNG screenshot of an HTML file (see :func:`inspect_html`).

    Parameters
    ----------
    html_path : str or Path
        Local HTML file.
    png_path : str or Path
        Output PNG, written atomically.
    width : int
        Viewport width in CSS pixels.
    max_height : int, optional
        Crop the capture to this many pixels from the top.
    timeout : float
        Seconds to wait for any single browser answer.
    chromium : str, optional
        Chromium executable.

    Returns
    -------
    dict
        What :func:`inspect_html` returns.
    """
    return inspect_html(html_path, png_path=png_path, width=width, full_page=True, max_height=max_height,
                        timeout=timeout, chromium=chromium)
