"""
harness.py: what the browser tests of the office web UI share (tests/web/test_*.py, run by
ctest as web_<name> with /usr/bin/python3: Debian's python3-selenium lives there).

Everything is real: the built binaries (TK_BIN_DIR), a hub on a free loopback port, offices
with fast key derivation, `tunduk ui --no-browser` started WITHOUT TUNDUK_PASSPHRASE in its
environment (the page must ask), and a headless Chromium driven by chromedriver.

    with Harness("security") as h:
        hub = h.hub()                              # tundukd init + serve
        a = h.office("office-a", hub, "cases:rw")  # init, enroll
        a.run("vault", "create", "cases")
        ui = h.ui(a)                               # tunduk --home A ui --no-browser
        b = h.browser(lang="en")
        b.open(ui.launch_url)                      # the launch token becomes the cookie
        b.unlock(PASSPHRASE)
        b.shot("home")                             # $TK_ARTIFACTS/01-home.png

Raw HTTP with exactly the headers given: raw(port, method, path, headers=..., host=...).
UI.login() takes a session with the launch token over raw HTTP (when no browser uses it);
UI.adopt(browser) takes the browser's session cookie instead; then UI.api(...) sends the
cookie and the CSRF header.

Teardown kills only the processes the harness started (by their pid), quits the browser
(chromedriver and the Chromium it started), and removes the temporary folder, which is kept
(path printed) when the test failed.
"""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import http.server
import urllib.parse

PASSPHRASE = "correct horse battery staple"
HUB_PASSPHRASE = "hub passphrase for the browser tests"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
LAUNCH_RE = re.compile(r"^tunduk ui: (http://127\.0\.0\.1:(\d+)/launch\?t=([A-Za-z0-9_-]{43}))$")


class Fail(AssertionError):
    pass


def check(cond, what):
    """Fails the test with what unless cond."""
    if not cond:
        raise Fail(what)


def log(*a):
    print(*a, flush=True)


# ---- raw HTTP ------------------------------------------------------------------------------


class Resp:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers  # [(name, value)] as received
        self.body = body

    def header(self, name):
        """The first header of that name (case-insensitive), or None."""
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except ValueError:
            return None

    def code(self):
        """error.code of a JSON error answer, or None."""
        j = self.json()
        if isinstance(j, dict) and isinstance(j.get("error"), dict):
            return j["error"].get("code")
        return None

    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return "HTTP %d %s %r" % (self.status, self.reason, self.body[:200])


def raw(port, method, path, headers=None, body=None, host=None, addr="127.0.0.1", timeout=30):
    """One request on a new connection with exactly these headers: Host is 127.0.0.1:PORT
    unless host is given (host="" sends none); a body (bytes, str or a JSON-able object)
    gets its Content-Length, and a write without a body gets Content-Length: 0."""
    conn = http.client.HTTPConnection(addr, port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        if host is None:
            host = "127.0.0.1:%d" % port
        if host != "":
            conn.putheader("Host", host)
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            headers = dict(headers or {})
            headers.setdefault("Content-Type", "application/json")
        if isinstance(body, str):
            body = body.encode("utf-8")
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        elif method in ("POST", "PUT", "DELETE", "PATCH"):
            conn.putheader("Content-Length", "0")
        conn.endheaders(body)
        r = conn.getresponse()
        data = r.read()
        return Resp(r.status, r.reason, r.getheaders(), data)
    finally:
        conn.close()


# ---- a local web server of another origin (cross-site pages) ---------------------------------


class PageServer:
    """Serves the given pages ({"/path": "html"} or {"/path": ("html", {header: value})}) on
    addr:0 from a thread; url(path)."""

    def __init__(self, pages, addr="127.0.0.1"):
        pages = dict(pages)

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                p = urllib.parse.urlsplit(self.path).path
                page = pages.get(p)
                if page is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                extra = {}
                if isinstance(page, tuple):
                    page, extra = page
                b = page.encode("utf-8")
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                for k, v in extra.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(b)))
                self.end_headers()
                self.wfile.write(b)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer((addr, 0), H)
        self.port = self.httpd.server_address[1]
        self.addr = addr
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path, host=None):
        return "http://%s:%d%s" % (host or self.addr, self.port, path)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


# ---- processes ------------------------------------------------------------------------------


class Proc:
    """A background process the harness started: stdout and stderr in files."""

    def __init__(self, h, name, argv, env):
        self.name = name
        self.out_path = os.path.join(h.tmp, "%s.out" % name)
        self.err_path = os.path.join(h.tmp, "%s.err" % name)
        self.out = open(self.out_path, "ab")
        self.err = open(self.err_path, "ab")
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.out,
                                  stderr=self.err, env=env)
        self.rc = None

    def alive(self):
        return self.p.poll() is None

    def text(self, which="err"):
        with open(self.err_path if which == "err" else self.out_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self, timeout=15):
        """SIGTERM (SIGKILL after timeout); the exit code."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.rc = self.p.returncode
        self.out.close()
        self.err.close()
        return self.rc


class Hub:
    def __init__(self, h, home):
        self.h = h
        self.home = home
        out = h.run_ok([h.bin("tundukd"), "--home", home, "init", "--name", "test-hub",
                        "--kdf", "interactive"], hub=True)
        self.id = out.strip().replace("hub device ", "")
        check(re.match(r"^([A-Z2-7]{4}-){12}[A-Z2-7]{4}$", self.id), "tundukd init printed %r" % out)
        self.proc = h.spawn("hub", [h.bin("tundukd"), "--home", home, "serve", "--listen",
                                    "127.0.0.1:0"], hub=True)
        self.port = None
        for _ in range(300):
            m = re.search(r"listening addr=127\.0\.0\.1:(\d+)", self.proc.text())
            if m:
                self.port = int(m.group(1))
                break
            check(self.proc.alive(), "tundukd serve exited:\n" + self.proc.text())
            time.sleep(0.1)
        check(self.port, "tundukd serve printed no listening line:\n" + self.proc.text())

    def token(self, name, *vaults):
        """A fresh enrollment token for a device NAME with VAULT:MODE access."""
        argv = [self.h.bin("tundukd"), "--home", self.home, "device", "add", name]
        for v in vaults:
            argv += ["--vault", v]
        argv += ["--address", "127.0.0.1:%d" % self.port]
        t = self.h.run_ok(argv, hub=True).strip()
        check(t.startswith("tk1-"), "device add printed %r" % t)
        return t


class Office:
    def __init__(self, h, home, name):
        self.h = h
        self.home = home
        self.name = name
        h.run_ok([h.bin("tunduk"), "--home", home, "init", "--name", name, "--kdf", "interactive"])
        self.id = self.run("whoami").strip()

    def run(self, *args, input=None, rc=0):
        """tunduk --home HOME ARGS (TUNDUK_PASSPHRASE set); stdout; the exit code must be rc."""
        return self.h.run_ok([self.h.bin("tunduk"), "--home", self.home] + list(args),
                             input=input, rc=rc)

    def new(self, type_, vault, body):
        """A new record (body: a dict); its id."""
        return self.run("new", type_, "--vault", vault, "-", input=json.dumps(body)).strip()

    def fill(self, vault, count, size=200):
        """count case records through tests/tools/tk_fill (sealed and signed like `new`)."""
        out = self.h.run_ok([self.h.bin("tk_fill"), "--home", self.home, "--vault", vault,
                             "--count", str(count), "--size", str(size)])
        check(out.strip() == str(count), "tk_fill printed %r" % out)


class UI:
    """`tunduk --home H ui --no-browser [--port N]`, no passphrase in its environment."""

    def __init__(self, h, office, port=None, env=None):
        self.h = h
        self.office = office
        argv = [h.bin("tunduk"), "--home", office.home, "ui", "--no-browser"]
        if port:
            argv += ["--port", str(port)]
        e = h.env(passphrase=False)
        e.update(env or {})
        h.ui_count += 1
        self.proc = h.spawn("ui%d" % h.ui_count, argv, env=e)
        self.launch_url = None
        deadline = time.time() + 60
        while time.time() < deadline:
            lines = self.proc.text("out").splitlines()
            if lines:
                m = LAUNCH_RE.match(lines[0])
                check(m, "tunduk ui's first line is not the launch line: %r" % lines[0])
                self.launch_url, self.port, self.token = m.group(1), int(m.group(2)), m.group(3)
                break
            check(self.proc.alive(), "tunduk ui exited %s:\n%s" % (self.proc.p.poll(),
                                                                     self.proc.text()))
            time.sleep(0.05)
        check(self.launch_url, "tunduk ui printed no launch line:\n" + self.proc.text())
        self.base = "http://127.0.0.1:%d" % self.port
        self.cookie = None  # "tk_session=..." once login() or adopt()
        self.csrf = None

    def url(self, path):
        return self.base + path

    def raw(self, method, path, **kw):
        return raw(self.port, method, path, **kw)

    def login(self):
        """The launch over raw HTTP: 303 with the session cookie; then the CSRF token."""
        r = self.raw("GET", "/launch?t=" + self.token)
        check(r.status == 303, "launch: %r" % r)
        c = r.header("Set-Cookie")
        check(c and c.startswith("tk_session="), "launch set no tk_session cookie: %r" % c)
        self.cookie = c.split(";", 1)[0]
        self._csrf()
        return r

    def adopt(self, browser):
        """The browser's session cookie for raw requests (after it opened the launch URL)."""
        for c in browser.d.get_cookies():
            if c["name"] == "tk_session":
                self.cookie = "tk_session=" + c["value"]
        check(self.cookie, "the browser holds no tk_session cookie")
        self._csrf()

    def _csrf(self):
        s = self.api("GET", "/api/session")
        check(s.status == 200 and s.json() and s.json().get("csrf"), "GET /api/session: %r" % s)
        self.csrf = s.json()["csrf"]

    def api(self, method, path, body=None, headers=None, csrf=True, **kw):
        """A request with the session cookie and (writes) the CSRF header."""
        hd = {"Cookie": self.cookie} if self.cookie else {}
        if csrf and method != "GET" and self.csrf:
            hd["X-Tunduk-CSRF"] = self.csrf
        hd.update(headers or {})
        return raw(self.port, method, path, headers=hd, body=body, **kw)

    def json(self, method, path, body=None, status=200):
        r = self.api(method, path, body)
        check(r.status == status, "%s %s: wanted %d, got %r" % (method, path, status, r))
        return r.json()

    def unlock(self, passphrase=PASSPHRASE):
        self.json("POST", "/api/unlock", {"passphrase": passphrase})

    def stop(self):
        """SIGTERM: it must exit 0."""
        rc = self.proc.stop()
        check(rc == 0, "tunduk ui exited %s on SIGTERM:\n%s" % (rc, self.proc.text()))


# ---- the browser ----------------------------------------------------------------------------

# Finds visible controls by their accessible name (a reduced form of the ARIA algorithm:
# aria-labelledby, aria-label, <label>, the text of buttons and links, title, placeholder).
ACC_JS = r"""
window.__tkName = function(el) {
  const t = s => (s || '').replace(/\s+/g, ' ').trim();
  const lb = el.getAttribute('aria-labelledby');
  if (lb) return t(lb.split(/\s+/).map(id => { const e = document.getElementById(id);
                                               return e ? e.textContent : ''; }).join(' '));
  if (el.getAttribute('aria-label')) return t(el.getAttribute('aria-label'));
  if (el.labels && el.labels.length) return t([...el.labels].map(l => l.textContent).join(' '));
  const tag = el.tagName.toLowerCase();
  if (tag === 'input' && ['submit', 'button', 'reset'].includes(el.type)) return t(el.value);
  if (['button', 'a', 'summary', 'option', 'legend', 'h1', 'h2', 'h3', 'th', 'td', 'li']
        .includes(tag) || el.getAttribute('role'))
    { const x = t(el.textContent); if (x) return x; }
  if (el.getAttribute('title')) return t(el.getAttribute('title'));
  if (el.getAttribute('placeholder')) return t(el.getAttribute('placeholder'));
  if (el.getAttribute('alt')) return t(el.getAttribute('alt'));
  return '';
};
window.__tkVisible = function(el) {
  const r = el.getBoundingClientRect();
  const s = getComputedStyle(el);
  return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none';
};
window.__tkControls = 'input:not([type=hidden]),select,textarea,button,a[href],summary,' +
  '[role=button],[role=link],[role=tab],[role=checkbox],[role=menuitem],[role=option],' +
  '[role=combobox],[role=searchbox],[role=textbox],[role=switch]';
"""

FIND_JS = ACC_JS + r"""
const [want, exact, sel] = arguments;
const norm = s => s.replace(/\s+/g, ' ').trim().toLowerCase();
const w = norm(want);
const hits = [...document.querySelectorAll(sel || window.__tkControls)]
  .filter(el => window.__tkVisible(el))
  .filter(el => { const n = norm(window.__tkName(el)); return exact ? n === w : n.includes(w); });
return hits;
"""

UNLABELLED_JS = ACC_JS + r"""
return [...document.querySelectorAll(window.__tkControls)]
  .filter(el => window.__tkVisible(el) && !window.__tkName(el))
  .map(el => el.outerHTML.slice(0, 160));
"""

# Installed before any page script runs (DevTools, so not subject to the page's CSP): every
# securitypolicyviolation event of the page, kept in sessionStorage across reloads.
CSP_WATCH_JS = r"""
(function () {
  function keep(e) {
    try {
      const k = '__tk_csp';
      const a = JSON.parse(sessionStorage.getItem(k) || '[]');
      a.push({directive: e.violatedDirective, blocked: e.blockedURI, source: e.sourceFile,
              line: e.lineNumber, sample: e.sample, page: location.href});
      sessionStorage.setItem(k, JSON.stringify(a));
    } catch (x) {}
  }
  document.addEventListener('securitypolicyviolation', keep, true);
})();
"""


class Browser:
    def __init__(self, h, lang="en", width=1280, height=900, args=()):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.h = h
        h.browser_count += 1
        self.profile = os.path.join(h.tmp, "chromium-profile-%d" % h.browser_count)
        o = webdriver.ChromeOptions()
        o.binary_location = CHROMIUM
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu",
                  "--window-size=%d,%d" % (width, height), "--user-data-dir=" + self.profile,
                  "--lang=" + lang, "--no-first-run", "--no-default-browser-check",
                  "--disable-extensions", "--disable-background-networking",
                  "--disable-dev-shm-usage", "--no-proxy-server", "--disable-sync",
                  "--disable-features=Translate,OptimizationHints,MediaRouter") + tuple(args):
            o.add_argument(a)
        o.add_experimental_option("prefs", {"intl.accept_languages": lang,
                                            "download.default_directory":
                                                os.path.join(self.profile, "downloads")})
        o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.downloads = os.path.join(self.profile, "downloads")
        svc = Service(CHROMEDRIVER, log_path=os.path.join(h.tmp, "chromedriver-%d.log"
                                                          % h.browser_count))
        self.d = webdriver.Chrome(service=svc, options=o)
        self.d.set_page_load_timeout(60)
        self.d.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": CSP_WATCH_JS})
        # downloads into the profile folder, without asking
        try:
            self.d.execute_cdp_cmd("Browser.setDownloadBehavior",
                                   {"behavior": "allow", "downloadPath": self.downloads})
        except Exception:
            pass
        self.logs = []  # every console entry read so far

    # navigation and pictures
    def open(self, url):
        self.d.get(url)

    def shot(self, name):
        """The viewport as $TK_ARTIFACTS/NN-name.png; the path."""
        return self.h.shot(self, name)

    def js(self, script, *args):
        return self.d.execute_script(script, *args)

    def js_async(self, script, *args):
        return self.d.execute_async_script(script, *args)

    # finding
    def by_name(self, name, exact=False, sel=None):
        """Visible controls (or elements matching sel) whose accessible name contains name
        (case-insensitive; exact: equals it)."""
        return self.js(FIND_JS, name, exact, sel)

    def find(self, name, exact=False, sel=None, timeout=10):
        """The first visible control with that accessible name, waiting for it."""
        hit = self.wait(lambda: (self.by_name(name, exact, sel) or [None])[0], timeout,
                        "a visible control named %r" % name)
        return hit

    def by_label(self, label, timeout=10):
        """The input, select or textarea labelled label."""
        return self.find(label, sel="input:not([type=hidden]),select,textarea,"
                                    "[role=combobox],[role=textbox],[role=searchbox]",
                         timeout=timeout)

    def css(self, selector):
        from selenium.webdriver.common.by import By
        return [e for e in self.d.find_elements(By.CSS_SELECTOR, selector) if e.is_displayed()]

    def wait_css(self, selector, timeout=10):
        return self.wait(lambda: (self.css(selector) or [None])[0], timeout,
                         "a visible %r" % selector)

    def wait_text(self, text, timeout=10):
        """Waits until the page's visible text contains text."""
        return self.wait(lambda: text in self.js("return document.body ? "
                                                 "document.body.innerText : ''"),
                         timeout, "the text %r on the page" % text)

    def wait_gone(self, selector, timeout=10):
        return self.wait(lambda: not self.css(selector), timeout, "%r to disappear" % selector)

    def wait(self, fn, timeout=10, what="the condition", interval=0.05):
        """fn() until it returns something true (returned); else fails naming what, with a
        screenshot."""
        deadline = time.time() + timeout
        last = None
        while True:
            try:
                v = fn()
                if v:
                    return v
            except Exception as e:  # a stale element while the page re-renders
                last = e
            if time.time() > deadline:
                self.shot("timeout")
                raise Fail("waited %.0f s for %s%s" % (timeout, what,
                                                        " (last error: %s)" % last if last else ""))
            time.sleep(interval)

    def type(self, el, text, clear=True):
        if clear:
            el.clear()
        el.send_keys(text)

    def select(self, el, text):
        """Chooses the <option> of select el whose visible text (the label) is text."""
        from selenium.webdriver.support.ui import Select
        Select(el).select_by_visible_text(text)

    def options(self, el):
        """The visible texts of select el's options."""
        return self.js("return [...arguments[0].options].map(o => o.textContent.trim())", el)

    def upload(self, el, path):
        """Gives a file input the file at path (as a user picking it)."""
        el.send_keys(os.path.abspath(path))

    def wait_download(self, name=None, timeout=60):
        """The path of a finished download in the profile's download folder (named name, or
        the first one)."""
        def done():
            if not os.path.isdir(self.downloads):
                return None
            fs = [f for f in os.listdir(self.downloads) if not f.endswith(".crdownload")
                  and (name is None or f == name)]
            return os.path.join(self.downloads, fs[0]) if fs else None
        return self.wait(done, timeout, "the download %s" % (name or ""))

    def tab_walk(self, n=40):
        """Presses Tab n times from the top of the page; the accessible names (or outerHTML
        heads when unnamed) of the elements that got the focus, in order: keyboard use."""
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.keys import Keys
        self.js("const b = document.body; b.setAttribute('tabindex', '-1'); b.focus(); "
                "b.removeAttribute('tabindex'); window.scrollTo(0, 0)")
        seen = []
        for _ in range(n):
            ActionChains(self.d).send_keys(Keys.TAB).perform()
            seen.append(self.js(ACC_JS + "const e = document.activeElement;"
                                "return e ? (window.__tkName(e) || e.outerHTML.slice(0, 80)) "
                                ": null;"))
        return seen

    def text(self):
        """The page's visible text."""
        return self.js("return document.body ? document.body.innerText : ''")

    def unlock(self, passphrase=PASSPHRASE, timeout=30):
        """Types the passphrase into the unlock screen's password field and submits it; waits
        until the field is gone."""
        from selenium.webdriver.common.keys import Keys
        f = self.wait_css("input[type=password]", timeout)
        f.clear()
        f.send_keys(passphrase)
        f.send_keys(Keys.ENTER)
        self.wait_gone("input[type=password]", timeout)

    # what the page did wrong
    def console(self):
        """New console entries since the last call (each {level, message, ...}); all are kept
        in self.logs."""
        new = self.d.get_log("browser")
        self.logs += new
        return new

    def csp_violations(self):
        """securitypolicyviolation events of the pages of this tab's origin since it opened,
        plus console lines about the Content Security Policy."""
        ev = self.js("try { return JSON.parse(sessionStorage.getItem('__tk_csp') || '[]'); } "
                     "catch (e) { return []; }") or []
        self.console()
        lines = [e["message"] for e in self.logs if "Content Security Policy" in e["message"]]
        return ev, lines

    def unlabelled(self):
        """Visible controls without an accessible name (outerHTML heads)."""
        return self.js(UNLABELLED_JS)

    def quit(self):
        try:
            self.d.quit()
        except Exception:
            pass


# ---- the harness ----------------------------------------------------------------------------


class Harness:
    def __init__(self, name, keep=False):
        self.name = name
        self.src = os.environ.get("TK_SOURCE_DIR") or os.path.abspath(
            os.path.join(os.path.dirname(__file__), "..", ".."))
        self.bindir = os.environ.get("TK_BIN_DIR") or os.path.join(self.src, "build", "bin")
        self.tmp = tempfile.mkdtemp(prefix="tk-web-%s-" % name)
        self.artifacts = os.environ.get("TK_ARTIFACTS") or os.path.join(
            tempfile.gettempdir(), "tk-web-artifacts-%s" % name)
        os.makedirs(self.artifacts, exist_ok=True)
        self.keep = keep
        self.procs = []
        self.browsers = []
        self.servers = []
        self.nshot = 0
        self.ui_count = 0
        self.browser_count = 0
        self.nhome = 0
        for b in ("tunduk", "tundukd"):
            check(os.access(self.bin(b), os.X_OK), "no %s in TK_BIN_DIR=%s" % (b, self.bindir))

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        ok = et is None
        if not ok:
            for p in self.procs:
                if os.path.exists(p.err_path) and os.path.getsize(p.err_path):
                    log("---- last lines of %s's stderr" % p.name)
                    log("\n".join(p.text().splitlines()[-15:]))
        self.close()
        if ok and not self.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            log("kept the test folder: %s" % self.tmp)
        log("screenshots: %s" % self.artifacts)
        return False

    def close(self):
        for b in self.browsers:
            b.quit()
        self.browsers = []
        for s in self.servers:
            s.close()
        self.servers = []
        for p in reversed(self.procs):
            if p.rc is None:
                p.stop()

    def bin(self, name):
        return os.path.join(self.bindir, name)

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def env(self, passphrase=True, hub=False):
        e = dict(os.environ)
        for k in ("TUNDUK_HOME", "TUNDUKD_HOME", "TUNDUK_PASSPHRASE", "TUNDUKD_PASSPHRASE"):
            e.pop(k, None)
        if passphrase:
            e["TUNDUK_PASSPHRASE"] = PASSPHRASE
        if hub:
            e["TUNDUKD_PASSPHRASE"] = HUB_PASSPHRASE
        return e

    def run_ok(self, argv, input=None, rc=0, hub=False):
        """Runs argv to its end; its stdout; fails unless it exits with rc."""
        p = subprocess.run(argv, input=input.encode() if isinstance(input, str) else input,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=self.env(hub=hub), timeout=300)
        if p.returncode != rc:
            raise Fail("%s exited %d, wanted %d\nstdout: %s\nstderr: %s" % (
                " ".join(argv), p.returncode, rc, p.stdout.decode(errors="replace"),
                p.stderr.decode(errors="replace")))
        return p.stdout.decode("utf-8", "replace")

    def spawn(self, name, argv, env=None, hub=False):
        p = Proc(self, name, argv, env if env is not None else self.env(hub=hub))
        self.procs.append(p)
        return p

    def hub(self):
        return Hub(self, self.path("hub"))

    def office(self, name, hub=None, *vaults):
        """A new office; enrolled at hub with the VAULT:MODE access given when hub."""
        self.nhome += 1
        o = Office(self, self.path("office-%d-%s" % (self.nhome, name)), name)
        if hub is not None:
            out = o.run("enroll", hub.token(name, *vaults))
            check(hub.id in out, "enroll printed %r" % out)
        return o

    def ui(self, office, port=None, env=None):
        return UI(self, office, port, env)

    def browser(self, lang="en", **kw):
        b = Browser(self, lang, **kw)
        self.browsers.append(b)
        return b

    def pages(self, pages, addr="127.0.0.1"):
        s = PageServer(pages, addr)
        self.servers.append(s)
        return s

    def shot(self, browser, name):
        self.nshot += 1
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name)
        p = os.path.join(self.artifacts, "%02d-%s.png" % (self.nshot, safe))
        try:
            browser.d.save_screenshot(p)
        except Exception as e:
            log("screenshot %s failed: %s" % (p, e))
        return p


def other_addresses():
    """This machine's addresses other than loopback (`hostname -I`)."""
    try:
        out = subprocess.run(["hostname", "-I"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, timeout=10).stdout.decode()
    except Exception:
        return []
    return [a for a in out.split() if not a.startswith("127.") and a != "::1"]


def connect_refused(addr, port, timeout=3):
    """True when a TCP connection to addr:port fails; False when it is accepted."""
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((addr, port))
        return False
    except OSError:
        return True
    finally:
        s.close()


def table(rows, head):
    """rows of strings as a Markdown table (printed for the closing note)."""
    w = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    line = lambda r: "| " + " | ".join(str(c).ljust(w[i]) for i, c in enumerate(r)) + " |"
    out = [line(head), "|" + "|".join("-" * (x + 2) for x in w) + "|"]
    out += [line(r) for r in rows]
    return "\n".join(out)


def main(fn):
    """Runs fn() as a test: exit 0 when it returns, 1 on a failure (message printed)."""
    try:
        fn()
    except Fail as e:
        log("FAIL: %s" % e)
        sys.exit(1)
    except Exception:
        import traceback
        traceback.print_exc()
        log("FAIL: an exception")
        sys.exit(1)
    log("PASS")
