"""Drive the system's headless Chromium from tests over the DevTools protocol, through a pipe.

Chromium started with ``--remote-debugging-pipe`` reads protocol messages (JSON, each ended by a
NUL byte) on file descriptor 3 and writes its answers and events on descriptor 4. So no port, no
websocket and no package are needed, and no browser is downloaded: it is the Debian ``chromium``
that ``make test`` installs.

    with Chromium.launch() as browser:
        page = browser.open(path.as_uri())
        page.click("#mg-forward")
        assert page.text("#mg-count") == "1 / 24"
        assert page.console_errors() == []
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from typing import Any

# The flags that work on these machines: no sandbox as root, and no background traffic to hosts a
# closed network refuses (each refusal would be logged, and some would be slow).
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--mute-audio", "--hide-scrollbars"]
NAMES = ("chromium", "chromium-browser", "google-chrome")


def find() -> str | None:
    """The Chromium program on PATH, if any."""
    return next(filter(None, map(shutil.which, NAMES)), None)


class ProtocolError(RuntimeError):
    """Chromium answered a command with an error, or did not answer in time."""


class Chromium:
    """One headless Chromium process, spoken to over the DevTools protocol on a pipe."""

    def __init__(self, process: subprocess.Popen, to_browser: int, from_browser: int, profile: str,
                 timeout: float) -> None:
        self.process, self.timeout = process, timeout
        self._out, self._in, self._profile = to_browser, from_browser, profile
        self._buffer, self._next_id = b"", 0
        self._replies: dict[int, dict] = {}
        self.events: list[dict] = []

    @classmethod
    def launch(cls, executable: str | None = None, timeout: float = 30.0) -> Chromium:
        executable = executable or find()
        if executable is None:
            raise FileNotFoundError(f"no Chromium on PATH (looked for {', '.join(NAMES)})")
        profile = tempfile.mkdtemp(prefix="mg-chromium-")
        browser_reads, we_write = os.pipe()
        we_read, browser_writes = os.pipe()

        def descriptors_3_and_4() -> None:  # in the child, before exec: its ends of the pipes become 3 and 4
            reads = fcntl.fcntl(browser_reads, fcntl.F_DUPFD, 10)  # above 4 first, so neither dup2 clobbers the other
            writes = fcntl.fcntl(browser_writes, fcntl.F_DUPFD, 10)
            os.dup2(reads, 3)
            os.dup2(writes, 4)

        process = subprocess.Popen([executable, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe",
                                    "about:blank"], pass_fds=(3, 4), preexec_fn=descriptors_3_and_4,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(browser_reads)
        os.close(browser_writes)
        return cls(process, we_write, we_read, profile, timeout)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(ProtocolError, OSError):
            self.send("Browser.close", timeout=5)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for fd in (self._out, self._in):
            with contextlib.suppress(OSError):
                os.close(fd)
        shutil.rmtree(self._profile, ignore_errors=True)

    # ---- the protocol ----

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float | None = None) -> dict:
        """Send one command and wait for its reply; events that arrive meanwhile are kept in ``events``."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        reply = self._wait(lambda: self._replies.pop(self._next_id, None), timeout, f"a reply to {method}")
        if "error" in reply:
            raise ProtocolError(f"{method}: {reply['error'].get('message')} {reply['error'].get('data', '')}")
        return reply.get("result", {})

    def wait_for_event(self, method: str, session: str | None = None, timeout: float | None = None) -> dict:
        """The first event called ``method`` (for ``session``) not yet taken; waits for it if needed."""
        def take() -> dict | None:
            for k, event in enumerate(self.events):
                if event.get("method") == method and (session is None or event.get("sessionId") == session):
                    return self.events.pop(k)
            return None
        return self._wait(take, timeout, f"the event {method}")

    def _wait(self, found, timeout: float | None, what: str) -> Any:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            result = found()
            if result is not None:
                return result
            left = deadline - time.monotonic()
            if left <= 0:
                raise ProtocolError(f"Chromium sent no {what} within {self.timeout if timeout is None else timeout} s")
            if select.select([self._in], [], [], left)[0]:
                chunk = os.read(self._in, 1 << 16)
                if not chunk:
                    raise ProtocolError(f"Chromium closed the pipe while we waited for {what} "
                                        f"(exit code {self.process.poll()})")
                self._buffer += chunk
                *messages, self._buffer = self._buffer.split(b"\0")
                for raw in messages:
                    message = json.loads(raw)
                    if "id" in message:
                        self._replies[message["id"]] = message
                    else:
                        self.events.append(message)

    # ---- pages ----

    def open(self, url: str, width: int = 1280, height: int = 800) -> Page:
        """A new tab of ``width`` x ``height`` CSS pixels showing ``url``, loaded."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session)
        for domain in ("Page", "Runtime", "Log"):
            page.send(f"{domain}.enable")
        page.send("Target.setAutoAttach", {"autoAttach": True, "waitForDebuggerOnStart": False, "flatten": True})
        page.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        page.goto(url)
        return page


class Page:
    """One tab: navigate, evaluate script, click and press keys as a user would, read what it logged."""

    def __init__(self, browser: Chromium, session: str) -> None:
        self.browser, self.session = browser, session

    def send(self, method: str, params: dict | None = None) -> dict:
        return self.browser.send(method, params, session=self.session)

    def goto(self, url: str) -> None:
        self.send("Page.navigate", {"url": url})
        self.browser.wait_for_event("Page.loadEventFired", self.session)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (JSON-able values only)."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True})
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise ProtocolError(f"the page raised {details.get('exception', {}).get('description') or details['text']}")
        return result["result"].get("value")

    def frames(self) -> list[Page]:
        """The page's inner frames that run in a process of their own (a sandboxed iframe), as pages."""
        inner = []
        for event in self.browser.events:
            if (event.get("sessionId") == self.session and event["method"] == "Target.attachedToTarget"
                    and event["params"]["targetInfo"]["type"] == "iframe"):
                frame = Page(self.browser, event["params"]["sessionId"])
                for domain in ("Runtime", "Log"):  # enabling replays what the frame logged so far
                    frame.send(f"{domain}.enable")
                inner.append(frame)
        return inner

    def text(self, selector: str) -> str:
        return self.evaluate(f"document.querySelector({json.dumps(selector)}).textContent")

    def click(self, selector: str, x_fraction: float = 0.5) -> None:
        """A real mouse click (press and release) at ``x_fraction`` across the element, half way down."""
        box = self.evaluate(f"""(() => {{
            const e = document.querySelector({json.dumps(selector)});
            e.scrollIntoView({{block: "nearest", inline: "nearest"}});
            const r = e.getBoundingClientRect();
            return [r.left, r.top, r.width, r.height];
        }})()""")
        x, y = box[0] + box[2] * x_fraction, box[1] + box[3] / 2
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1})

    def press(self, key: str, code: str | None = None, key_code: int = 0) -> None:
        """Press and release one key (``"ArrowRight"``, ``" "``, ``"Home"``)."""
        params = {"key": key, "code": code or key, "windowsVirtualKeyCode": key_code}
        self.send("Input.dispatchKeyEvent", {"type": "keyDown", **params})
        self.send("Input.dispatchKeyEvent", {"type": "keyUp", **params})

    def wait_until(self, expression: str, timeout: float = 10.0) -> None:
        """Poll a JavaScript condition until it holds."""
        deadline = time.monotonic() + timeout
        while not self.evaluate(expression):
            if time.monotonic() > deadline:
                raise ProtocolError(f"the page never reached {expression!r} within {timeout} s")
            time.sleep(0.05)

    def console_errors(self) -> list[str]:
        """What the page logged as an error or warning, or threw, so far."""
        problems = []
        for event in self.browser.events:
            if event.get("sessionId") != self.session:
                continue
            params = event.get("params", {})
            if event["method"] == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                problems.append(details.get("exception", {}).get("description") or details["text"])
            elif event["method"] == "Runtime.consoleAPICalled" and params["type"] in ("error", "warning", "assert"):
                problems.append(" ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
            elif event["method"] == "Log.entryAdded" and params["entry"]["level"] in ("error", "warning"):
                problems.append(params["entry"]["text"])
        return problems

    def screenshot(self) -> bytes:
        import base64
        return base64.b64decode(self.send("Page.captureScreenshot", {"format": "png"})["data"])
