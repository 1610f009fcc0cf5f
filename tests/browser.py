"""A headless Chromium driven over W3C WebDriver (chromedriver), with the standard library alone.

``Browser.start()`` returns None with the reason when no browser can be had: the tests that
need one skip with that reason. Chromium runs with a fresh profile, no sandbox (root in a
container), and nothing that reaches out to the network on its own.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


def _find(names: list[str], extra: list[str]) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return next((path for path in extra if Path(path).is_file()), None)


def unavailable() -> str | None:
    """Why no browser can be had here, or None when one can."""
    if _find(["chromium", "chromium-browser", "google-chrome"], ["/usr/bin/chromium"]) is None:
        return "no Chromium here (apt-get install chromium chromium-driver)"
    if _find(["chromedriver"], ["/usr/bin/chromedriver"]) is None:
        return "no chromedriver here (apt-get install chromium-driver)"
    return None


class WebDriverError(Exception):
    pass


def _driver(path: str) -> tuple[subprocess.Popen[str], int]:
    """A chromedriver on a port of its choosing (it prints the port once it listens)."""
    lines = []
    for _ in range(3):  # a driver that dies while starting is started again
        driver = subprocess.Popen([path, "--port=0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert driver.stdout is not None
        for line in driver.stdout:  # "ChromeDriver was started successfully on port 42359."
            lines.append(line)
            match = re.search(r"started successfully on port (\d+)", line)
            if match:
                # whatever it says later is read and dropped, so a full pipe never stops it
                threading.Thread(target=driver.stdout.read, daemon=True).start()
                return driver, int(match.group(1))
        driver.kill()
        driver.wait()
    raise WebDriverError("chromedriver did not start: " + "".join(lines[-6:]))


class Browser:
    """One chromedriver and one Chromium session."""

    def __init__(self, driver: subprocess.Popen[str], port: int, profile: str) -> None:
        self.driver, self.port, self.profile = driver, port, profile
        self.session = ""

    @classmethod
    def start(cls, width: int = 1280, height: int = 800) -> Browser:
        chromium = _find(["chromium", "chromium-browser", "google-chrome"], ["/usr/bin/chromium"])
        driver_path = _find(["chromedriver"], ["/usr/bin/chromedriver"])
        assert chromium and driver_path, unavailable()
        driver, port = _driver(driver_path)
        browser = cls(driver, port, tempfile.mkdtemp(prefix="chromium-profile-"))
        args = [*CHROMIUM_ARGS, f"--user-data-dir={browser.profile}", f"--window-size={width},{height}"]
        caps = {"browserName": "chrome", "goog:chromeOptions": {"binary": chromium, "args": args}}
        browser.session = browser._call("POST", "/session", {"capabilities": {"alwaysMatch": caps}})["sessionId"]
        return browser

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            payload = None if body is None else json.dumps(body)
            connection.request(method, path, payload, {"Content-Type": "application/json"})
            answer = json.loads(connection.getresponse().read() or b"{}")
        finally:
            connection.close()
        value = answer.get("value")
        if isinstance(value, dict) and value.get("error"):
            raise WebDriverError(f"{value['error']}: {value.get('message', '')[:500]}")
        return answer if path == "/session" and method == "POST" and "sessionId" in answer else value

    def _session(self, method: str, path: str, body: Any = None) -> Any:
        return self._call(method, f"/session/{self.session}{path}", body)

    def open(self, url: str) -> None:
        self._session("POST", "/url", {"url": url})

    def run(self, script: str, *args: Any) -> Any:
        """Run ``script`` (a function body: ``return ...``) in the page."""
        return self._session("POST", "/execute/sync", {"script": script, "args": list(args)})

    def run_async(self, script: str, *args: Any) -> Any:
        """Run ``script``, which calls its last argument (``arguments[arguments.length - 1]``) when done."""
        return self._session("POST", "/execute/async", {"script": script, "args": list(args)})

    def loaded_images(self, css: str = "img") -> list[dict[str, Any]]:
        """Every image matching ``css``, loaded (lazy ones too): its source and its width."""
        script = """
            const done = arguments[arguments.length - 1];
            const images = Array.from(document.querySelectorAll(arguments[0]));
            images.forEach(i => { i.loading = "eager"; });
            Promise.all(images.map(i => i.decode().catch(() => null))).then(() =>
                done(images.map(i => ({src: i.getAttribute("src"), width: i.naturalWidth}))));
        """
        found: list[dict[str, Any]] = self.run_async(script, css)
        return found

    def windows(self) -> list[str]:
        found: list[str] = self._session("GET", "/window/handles")
        return found

    def close_other_windows(self) -> None:
        """Close every window but this one (those a link opened) and come back to it."""
        current = self._session("GET", "/window")
        for handle in self.windows():
            if handle != current:
                self._session("POST", "/window", {"handle": handle})
                self._session("DELETE", "/window")
        self._session("POST", "/window", {"handle": current})

    def element(self, css: str) -> str:
        found = self._session("POST", "/element", {"using": "css selector", "value": css})
        return str(found[ELEMENT])

    def type(self, css: str, text: str) -> None:
        self._session("POST", f"/element/{self.element(css)}/value", {"text": text})

    def click(self, css: str) -> None:
        self._session("POST", f"/element/{self.element(css)}/click", {})

    def keys(self, *keys: str) -> None:
        """Press keys (WebDriver key codes: ``\\ue014`` is the right arrow) on the focused element."""
        actions = [a for key in keys for a in ({"type": "keyDown", "value": key}, {"type": "keyUp", "value": key})]
        self._session("POST", "/actions", {"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})

    def resize(self, width: int, height: int) -> None:
        """Resize the window, and return once the page has been laid out at the new width."""
        self._session("POST", "/window/rect", {"width": width, "height": height})
        self.run_async(
            """const [width, done] = arguments;
            const check = () => window.innerWidth === width ? done(true) : setTimeout(check, 10);
            check();""",
            width,
        )

    def screenshot(self, path: Path) -> Path:
        path.write_bytes(base64.b64decode(self._session("GET", "/screenshot")))
        return path

    def log(self) -> list[dict[str, Any]]:
        """The console's messages so far (Chromium's own log, errors and CSP reports included)."""
        try:
            found: list[dict[str, Any]] = self._session("POST", "/se/log", {"type": "browser"})
            return found
        except WebDriverError:
            return []

    def close(self) -> None:
        try:
            if self.session:
                self._call("DELETE", f"/session/{self.session}")
        finally:
            self.driver.kill()
            self.driver.wait()
            shutil.rmtree(self.profile, ignore_errors=True)


KEYS = {"right": "\ue014", "left": "\ue012", "down": "\ue015", "up": "\ue013", "enter": "\ue007"}
