"""
test_security.py (ctest web_security): every check of the web UI's contract (/work/ui-spec.md,
README "The web UI", SECURITY.md) against the real `tunduk ui`: with raw HTTP (http.client, so
the headers are exactly what is sent) and with headless Chromium where a browser matters
(cookies, cross-site pages, framing, DNS rebinding, the page's own CSP). Each hostile request
must be refused with the status and error code of the contract AND change nothing; the allowed
path must work, so the test also fails when a check is too strict. Prints a table of
check -> result for the closing note.

TK_WEB_IDLE_WAIT=0 skips the idle-lock wait (about 65 s).
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (PASSPHRASE, Harness, check, connect_refused, log, main,  # noqa: E402
                     other_addresses, raw, table)

CSP_PARTS = ["default-src 'self'", "frame-ancestors 'none'", "base-uri 'none'",
             "form-action 'self'", "object-src 'none'"]
WRONG_TOKEN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


class Checks:
    """The table: check, wanted, got, result. Every response seen is kept for the header
    checks."""

    def __init__(self):
        self.rows = []
        self.responses = []  # (label, Resp)

    def r(self, label, resp):
        self.responses.append((label, resp))
        return resp

    def row(self, name, want, got, ok, soft=False):
        res = "PASS" if ok else ("WARN" if soft else "FAIL")
        self.rows.append((name, want, got, res))
        log("%-4s %s: wanted %s, got %s" % (res, name, want, got))
        return ok

    def status(self, name, resp, status, code=None, also=True, also_what=""):
        """resp must have that status (and error code); also: a further condition."""
        got = "%d%s" % (resp.status, " " + resp.code() if resp.code() else "")
        want = "%d%s" % (status, " " + code if code else "")
        if also_what:
            want += ", " + also_what
            got += ", " + ("yes" if also else "NO")
        return self.row(name, want, got,
                        resp.status == status and (code is None or resp.code() == code) and also)

    def failed(self):
        return [r for r in self.rows if r[3] == "FAIL"]


def other_token(t):
    """A token of the same length and alphabet that differs in one character."""
    i = len(t) // 2
    c = WRONG_TOKEN_CHARS[(WRONG_TOKEN_CHARS.index(t[i]) + 1) % len(WRONG_TOKEN_CHARS)]
    return t[:i] + c + t[i + 1:]


def test():
    C = Checks()
    try:
        checks(C)
    finally:
        log("")
        log(table(C.rows, ("check", "wanted", "got", "result")))
    bad = C.failed()
    check(not bad, "%d of %d checks failed: %s" % (len(bad), len(C.rows),
                                                   "; ".join(r[0] for r in bad)))


def checks(C):
    with Harness("security") as h:
        office = h.office("osh-office")
        office.run("vault", "create", "osh-cases")
        rid = office.new("case", "osh-cases", {"case_number": "OSH-2026-014",
                                               "client_alias": "Client A-7", "status": "open"})
        shown_before = office.run("show", rid)
        ui = h.ui(office)
        port, tok = ui.port, ui.token
        log("tunduk ui on port %d" % port)
        other_port = port + 1 if port < 65535 else port - 1

        # ---- before the launch: Host allow-list, no session -------------------------------
        launch = "/launch?t=" + tok
        for label, host in (("wrong Host evil.example:PORT (DNS rebinding)", "evil.example:%d" % port),
                            ("wrong Host 127.0.0.1:OTHER-PORT", "127.0.0.1:%d" % other_port),
                            ("wrong Host without port (127.0.0.1)", "127.0.0.1"),
                            ("wrong Host evil.example", "evil.example"),
                            ("wrong Host 127.0.0.1.evil.example:PORT",
                             "127.0.0.1.evil.example:%d" % port)):
            resp = C.r(label, raw(port, "GET", launch, host=host))
            C.status(label + " on /launch with the real token", resp, 421,
                     also=b"wrong Host" in resp.body and not resp.header("Set-Cookie"),
                     also_what="text 'wrong Host', no cookie")
        resp = C.r("evil Host on /api/session", raw(port, "GET", "/api/session",
                                                    host="evil.example:%d" % port))
        C.status("wrong Host evil.example:PORT on /api/session", resp, 421)
        resp = C.r("no Host", raw(port, "GET", "/api/session", host=""))
        C.row("no Host header (HTTP/1.1)", "400 or 421", str(resp.status),
              resp.status in (400, 421))

        for path in ("/", "/api/session", "/app.js", "/index.html", "/api/records",
                     "/api/status"):
            resp = C.r("no cookie " + path, raw(port, "GET", path))
            C.status("no cookie: GET " + path, resp, 401)
        resp = C.r("no cookie page", raw(port, "GET", "/"))
        C.row("the 401 page says what to do", "'tunduk ui' in the text",
              repr(resp.text()[:60]), b"tunduk ui" in resp.body)
        resp = C.r("localhost no cookie", raw(port, "GET", "/api/session",
                                              host="localhost:%d" % port))
        C.status("Host localhost:PORT accepted (then no cookie)", resp, 401)
        resp = C.r("favicon", raw(port, "GET", "/favicon.ico"))
        C.row("GET /favicon.ico without cookie (allowed)", "not 401/421",
              str(resp.status), resp.status not in (401, 421))
        resp = C.r("wrong cookie", raw(port, "GET", "/api/session",
                                       headers={"Cookie": "tk_session=" + other_token(tok)}))
        C.status("a made-up session cookie", resp, 401)
        resp = C.r("unlock no cookie", raw(port, "POST", "/api/unlock",
                                           body={"passphrase": PASSPHRASE}))
        C.status("POST /api/unlock without cookie", resp, 401)

        for label, path in (("a wrong launch token (one character off)",
                             "/launch?t=" + other_token(tok)),
                            ("a launch token's prefix", "/launch?t=" + tok[:42]),
                            ("the launch token and one more character", "/launch?t=" + tok + "A"),
                            ("an empty launch token", "/launch?t="),
                            ("/launch without a token", "/launch")):
            resp = C.r(label, raw(port, "GET", path))
            C.status(label, resp, 403, also=not resp.header("Set-Cookie"),
                     also_what="no cookie")

        # ---- the launch in the browser --------------------------------------------------
        b = h.browser(lang="en")
        b.open(ui.launch_url)
        b.wait_css("input[type=password]", 30)
        b.shot("unlock-screen")
        url = b.d.current_url
        C.row("launch URL in the browser (after the refused tries above) -> 303 to /",
              "at http://127.0.0.1:PORT/ without t=",
              url, url.startswith(ui.base + "/") and "t=" not in url)
        ck = [c for c in b.d.get_cookies() if c["name"] == "tk_session"]
        C.row("the browser's session cookie", "HttpOnly, SameSite=Strict, path /",
              str({k: ck[0].get(k) for k in ("httpOnly", "sameSite", "path", "secure")}
                  if ck else "no cookie"),
              bool(ck) and ck[0].get("httpOnly") is True and ck[0].get("sameSite") == "Strict"
              and ck[0].get("path") == "/")
        dc = b.js("return document.cookie")
        C.row("document.cookie (HttpOnly: not readable from script)", "no tk_session",
              repr(dc), "tk_session" not in (dc or ""))
        resp = C.r("launch again", raw(port, "GET", launch))
        C.status("the launch token used a second time", resp, 403,
                 also=not resp.header("Set-Cookie"), also_what="no cookie")

        ui.adopt(b)
        sess = ui.json("GET", "/api/session")
        C.row("GET /api/session with the cookie", "200, locked, a csrf token",
              "locked=%s csrf=%d chars" % (sess.get("locked"), len(sess.get("csrf") or "")),
              sess.get("locked") is True and len(sess.get("csrf") or "") >= 32)
        check(ui.csrf != ui.cookie.split("=", 1)[1], "the CSRF token is the session cookie")

        # ---- locked ------------------------------------------------------------------------
        for method, path, body in (("GET", "/api/records", None),
                                   ("GET", "/api/records/" + rid, None),
                                   ("GET", "/api/conflicts", None),
                                   ("POST", "/api/records", {"type": "case", "vault": "osh-cases",
                                                             "body": {"case_number": "X",
                                                                      "client_alias": "Y",
                                                                      "status": "open"}})):
            resp = C.r("locked " + path, ui.api(method, path, body))
            C.status("locked: %s %s" % (method, path), resp, 423, "locked")
        resp = C.r("wrong passphrase", ui.api("POST", "/api/unlock",
                                               {"passphrase": "not the passphrase"}))
        C.status("unlock with a wrong passphrase", resp, 401, "passphrase")
        still = ui.json("GET", "/api/session").get("locked")
        resp = C.r("locked after wrong", ui.api("GET", "/api/records"))
        C.status("after the wrong passphrase: still locked", resp, 423, "locked",
                 also=still is True, also_what="session locked")
        for label, hd in (("unlock without X-Tunduk-CSRF", None),
                          ("unlock with Origin: http://evil.example", {"Origin": "http://evil.example"}),
                          ("unlock with Sec-Fetch-Site: cross-site", {"Sec-Fetch-Site": "cross-site"})):
            resp = C.r(label, ui.api("POST", "/api/unlock", {"passphrase": PASSPHRASE},
                                     headers=hd, csrf=hd is not None))
            code = "csrf" if hd is None else ("origin" if "Origin" in hd else None)
            C.status(label + " (right passphrase)", resp, 403, code,
                     also=ui.json("GET", "/api/session").get("locked") is True,
                     also_what="still locked")
        resp = C.r("unlock", ui.api("POST", "/api/unlock", {"passphrase": PASSPHRASE}))
        C.status("unlock with the passphrase, cookie and CSRF (allowed)", resp, 200,
                 also=ui.json("GET", "/api/session").get("locked") is False,
                 also_what="unlocked")
        resp = C.r("records", ui.api("GET", "/api/records"))
        C.status("unlocked: GET /api/records", resp, 200,
                 also=(resp.json() or {}).get("total") == 1, also_what="total 1")

        # ---- writes: CSRF header and Origin --------------------------------------------------
        def org():
            return ui.json("GET", "/api/session").get("organisation")

        org0 = org()
        probe = {"organisation": "PWNED"}
        for label, hd, csrf, code in (
                ("a write without X-Tunduk-CSRF", {}, False, "csrf"),
                ("a write with a wrong X-Tunduk-CSRF", {"X-Tunduk-CSRF": other_token(ui.csrf)},
                 False, "csrf"),
                ("a write with an empty X-Tunduk-CSRF", {"X-Tunduk-CSRF": ""}, False, "csrf"),
                ("a write with the session cookie as X-Tunduk-CSRF",
                 {"X-Tunduk-CSRF": ui.cookie.split("=", 1)[1]}, False, "csrf"),
                ("a write with Origin: http://evil.example", {"Origin": "http://evil.example"},
                 True, "origin"),
                ("a write with Origin: http://127.0.0.1:OTHER-PORT",
                 {"Origin": "http://127.0.0.1:%d" % other_port}, True, "origin"),
                ("a write with Origin: null", {"Origin": "null"}, True, "origin"),
                ("a write with Origin: https://127.0.0.1:PORT",
                 {"Origin": "https://127.0.0.1:%d" % port}, True, "origin"),
                ("a write with Sec-Fetch-Site: cross-site", {"Sec-Fetch-Site": "cross-site"},
                 True, None)):
            resp = C.r(label, ui.api("POST", "/api/settings", probe, headers=hd, csrf=csrf))
            C.status(label, resp, 403, code, also=org() == org0, also_what="nothing changed")
        resp = C.r("write no cookie", raw(port, "POST", "/api/settings", body=probe,
                                          headers={"X-Tunduk-CSRF": ui.csrf}))
        C.status("a write with the CSRF header but no cookie", resp, 401,
                 also=org() == org0, also_what="nothing changed")
        for label, hd, name in (("a write with Origin: http://127.0.0.1:PORT (allowed)",
                                 {"Origin": ui.base}, "Osh office 1"),
                                ("a write with Origin: http://localhost:PORT (allowed)",
                                 {"Origin": "http://localhost:%d" % port}, "Osh office 2"),
                                ("a write with Sec-Fetch-Site: same-origin (allowed)",
                                 {"Sec-Fetch-Site": "same-origin"}, "Osh office 3"),
                                ("a write with the CSRF header, no Origin (allowed)", {},
                                 "Юридическая клиника Ош")):
            resp = C.r(label, ui.api("POST", "/api/settings", {"organisation": name}, headers=hd))
            C.status(label, resp, 200, also=org() == name, also_what="organisation set")
        resp = C.r("PUT no csrf", ui.api("PUT", "/api/records/" + rid,
                                         {"body": {"case_number": "PWNED", "client_alias": "x",
                                                   "status": "open"}}, csrf=False))
        C.status("PUT /api/records/ID without X-Tunduk-CSRF", resp, 403, "csrf",
                 also=office_show(office, rid, ui) == shown_before, also_what="record unchanged")
        resp = C.r("delete no csrf", ui.api("POST", "/api/records/%s/delete" % rid, csrf=False))
        C.status("POST /api/records/ID/delete without X-Tunduk-CSRF", resp, 403, "csrf",
                 also=office_show(office, rid, ui) == shown_before, also_what="record unchanged")
        resp = C.r("DELETE no csrf", ui.api("DELETE", "/api/records/" + rid, csrf=False))
        C.status("DELETE /api/records/ID without X-Tunduk-CSRF", resp, 403, "csrf")

        # ---- limits -----------------------------------------------------------------------
        st, txt = raw_big(port, "/api/check", ui.cookie, ui.csrf, 5 << 20)
        C.row("a 5 MiB JSON body (limit 4 MiB)", "413 limit", "%s %r" % (st, txt[-60:]),
              st == 413 and '"limit"' in txt)
        resp = C.r("long url", ui.api("GET", "/api/records?q=" + "a" * 5000))
        C.row("a 5,000-byte URL (limit 2,048)", "400/413/414", "%d" % resp.status,
              resp.status in (400, 413, 414))
        resp = C.r("bad settings", ui.api("POST", "/api/settings", {"idle_minutes": 0}))
        C.status("idle_minutes 0 (range 1..480)", resp, 400, "input",
                 also=ui.json("GET", "/api/session").get("idle_minutes") == 15,
                 also_what="unchanged (15)")
        resp = C.r("bad settings 2", ui.api("POST", "/api/settings", {"idle_minutes": 481}))
        C.status("idle_minutes 481 (range 1..480)", resp, 400, "input")

        # ---- only on loopback ----------------------------------------------------------------
        others = other_addresses()
        if others:
            for a in others:
                C.row("connect to this machine's address %s:PORT" % a, "refused",
                      "refused" if connect_refused(a, port) else "ACCEPTED",
                      connect_refused(a, port))
        else:
            C.row("connect to another address of this machine", "refused",
                  "no address but loopback (hostname -I): not checked", True)
        C.row("connect to [::1]:PORT (bound to 127.0.0.1 only)", "refused",
              "refused" if connect_refused("::1", port) else "ACCEPTED",
              connect_refused("::1", port))
        C.row("connect to 127.0.0.1:PORT (allowed)", "accepted",
              "refused" if connect_refused("127.0.0.1", port) else "accepted",
              not connect_refused("127.0.0.1", port))

        # ---- the page: unlock through its form; no CSP violation, no external resource -------
        check(ui.api("POST", "/api/lock").status == 200, "POST /api/lock")
        b.open(ui.base + "/")
        b.unlock(PASSPHRASE)
        C.row("unlock through the page's passphrase field", "unlocked",
              "locked=%s" % ui.json("GET", "/api/session").get("locked"),
              ui.json("GET", "/api/session").get("locked") is False)
        time.sleep(1.0)
        b.shot("home")
        visited = visit_screens(b, h)
        ev, lines = b.csp_violations()
        C.row("the page in Chromium: CSP violations (%d screens: %s)" % (len(visited),
                                                                         " ".join(visited)),
              "none", "%d events, %d console lines %s" % (len(ev), len(lines),
                                                          (ev[:2], lines[:2]) if ev or lines
                                                          else ""),
              not ev and not lines)
        severe = [e["message"] for e in b.logs if e.get("level") == "SEVERE"]
        C.row("the page in Chromium: console errors", "none", "%d %s" % (len(severe), severe[:3]),
              not severe, soft=True)
        res = b.js("return performance.getEntriesByType('resource').map(e => e.name)") or []
        ext = [u for u in res if not u.startswith(ui.base + "/")]
        C.row("the page loads nothing from elsewhere", "every resource from %s" % ui.base,
              "%d resources, %d elsewhere %s" % (len(res), len(ext), ext[:3]), not ext)

        # ---- cross-site pages in the browser ----------------------------------------------
        cross_site(C, h, b, ui, office, rid, shown_before, org)

        # ---- DNS rebinding in the browser: evil.example resolves to 127.0.0.1 ----------------
        rb = h.browser(args=("--host-resolver-rules=MAP evil.example 127.0.0.1",))
        rb.open("http://evil.example:%d/" % port)
        txt = rb.js("return document.body ? document.body.innerText : ''")
        rb.shot("dns-rebinding-refused")
        C.row("browser at http://evil.example:PORT/ (a rebound name)", "refused: wrong Host",
              repr(txt[:40]), "wrong Host" in txt)
        rb.open("http://evil.example:%d/api/session" % port)
        txt = rb.js("return document.body ? document.body.innerText : ''")
        C.row("browser at http://evil.example:PORT/api/session", "refused: wrong Host",
              repr(txt[:40]), "wrong Host" in txt and "csrf" not in txt)
        rb.quit()

        # ---- lock now, then the idle lock ---------------------------------------------------
        resp = C.r("lock", ui.api("POST", "/api/lock"))
        C.status("POST /api/lock", resp, 200,
                 also=ui.api("GET", "/api/records").status == 423, also_what="then 423")
        b.open(ui.base + "/")
        C.row("the page after the lock shows the unlock screen", "a password field",
              "shown" if wait_soft(b, "input[type=password]", 15) else "NOT shown",
              bool(b.css("input[type=password]")))
        idle_lock(C, h, b, ui)

        # ---- stop; nothing secret in its output -------------------------------------------
        ui.stop()
        C.row("tunduk ui on SIGTERM", "exit 0", "exit %s" % ui.proc.rc, ui.proc.rc == 0)
        outs = ui.proc.text("out") + ui.proc.text("err")
        leaked = [n for n, v in (("passphrase", PASSPHRASE), ("session cookie", ui.cookie),
                                 ("csrf token", ui.csrf)) if v and v.split("=")[-1] in outs]
        C.row("tunduk ui's stdout/stderr", "no passphrase, cookie or CSRF token",
              "none" if not leaked else "LEAKS " + ", ".join(leaked), not leaked)

        # ---- a second run on a fixed --port: the launch over raw HTTP ---------------------
        second_run(C, h, office)

        # ---- every response's headers ------------------------------------------------------
        headers_checks(C)
        if C.failed():
            h.keep = True


def raw_big(port, path, cookie, csrf, n):
    """POST of an n-byte JSON body on a raw socket (the server may answer and close before
    the whole body is sent); the status and the answer's text."""
    import socket
    body = b'{"type":"case","body":{"notes":"' + b"x" * n + b'"}}'
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = ("POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nCookie: %s\r\nX-Tunduk-CSRF: %s\r\n"
            "Content-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
            % (path, port, cookie, csrf, len(body))).encode()
    data = b""
    try:
        s.sendall(head)
        try:
            s.sendall(body)
        except OSError:
            pass
        while True:
            try:
                c = s.recv(65536)
            except OSError:
                break
            if not c:
                break
            data += c
    finally:
        s.close()
    txt = data.decode("utf-8", "replace")
    try:
        st = int(txt.split(" ", 2)[1])
    except (IndexError, ValueError):
        st = None
    return st, txt


def second_run(C, h, office):
    """tunduk ui --port N on a port chosen here; the launch over raw HTTP (as a script does):
    the 303's Location and Set-Cookie, then the page and its assets with the cookie."""
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    want_port = s.getsockname()[1]
    s.close()
    ui = h.ui(office, port=want_port)
    C.row("tunduk ui --port N", "listens on N", str(ui.port), ui.port == want_port)
    r = C.r("launch 303", ui.raw("GET", "/launch?t=" + ui.token))
    cookie = r.header("Set-Cookie") or ""
    parts = [p.strip().lower() for p in cookie.split(";")]
    C.status("raw launch: 303 to /", r, 303, also=r.header("Location") in ("/", ui.base + "/"),
             also_what="Location /")
    C.row("raw launch: Set-Cookie", "tk_session=..; HttpOnly; SameSite=Strict; Path=/; no Domain",
          cookie.split("=", 1)[0] + "=..;" + cookie.split(";", 1)[-1] if cookie else "none",
          cookie.startswith("tk_session=") and "httponly" in parts and "samesite=strict" in parts
          and "path=/" in parts and not any(p.startswith("domain") for p in parts)
          and len(cookie.split(";")[0].split("=", 1)[1]) >= 32)
    ui.cookie = cookie.split(";", 1)[0]
    for path, ctype in (("/", "text/html"), ("/app.js", "javascript"),
                        ("/app.css", "text/css"), ("/api/session", "application/json")):
        r = C.r("with cookie " + path, ui.api("GET", path))
        C.status("with the cookie: GET %s" % path, r, 200,
                 also=ctype in (r.header("Content-Type") or ""), also_what="Content-Type " + ctype)
    page = ui.api("GET", "/").text().lower()
    C.row("index.html: no inline script, style= or on*= attribute", "none",
          "found" if ("<script>" in page or " style=" in page or " onclick=" in page
                      or " onload=" in page) else "none",
          not ("<script>" in page or " style=" in page or " onclick=" in page
               or " onload=" in page))
    r = C.r("launch twice raw", ui.raw("GET", "/launch?t=" + ui.token))
    C.status("raw launch a second time", r, 403)
    ui.stop()


def office_show(office, rid, ui):
    """The record as `tunduk show` prints it (the UI holds no lock on the store for reads)."""
    return office.run("show", rid)


def wait_soft(b, sel, timeout):
    end = time.time() + timeout
    while time.time() < end:
        if b.css(sel):
            return True
        time.sleep(0.2)
    return False


def visit_screens(b, h):
    """Every in-page link (#/...) of the navigation, each opened and photographed."""
    hrefs = b.js("return [...new Set([...document.querySelectorAll('a[href^=\"#\"]')]"
                 ".map(a => a.getAttribute('href')))]") or []
    seen = []
    for href in hrefs[:20]:
        if href in ("#", "#main"):
            continue
        b.js("location.hash = arguments[0]", href)
        time.sleep(0.6)
        b.shot("screen-" + href.strip("#/").replace("/", "-"))
        seen.append(href)
    return seen


CROSS_JS = r"""
const [ui, done] = [arguments[0], arguments[arguments.length - 1]];
const out = {};
const t = (p) => p.then(r => 'resolved: ' + r.type + ' ' + r.status).catch(e => 'rejected: ' + e.name);
(async () => {
  out.read_session = await t(fetch(ui + '/api/session', {credentials: 'include'}));
  out.read_records = await t(fetch(ui + '/api/records', {credentials: 'include'}));
  out.post_settings_nocors = await t(fetch(ui + '/api/settings', {method: 'POST', mode: 'no-cors',
      credentials: 'include', headers: {'Content-Type': 'text/plain'},
      body: JSON.stringify({organisation: 'PWNED-fetch'})}));
  out.post_settings_json = await t(fetch(ui + '/api/settings', {method: 'POST',
      credentials: 'include', headers: {'Content-Type': 'application/json',
                                        'X-Tunduk-CSRF': 'guess'},
      body: JSON.stringify({organisation: 'PWNED-cors'})}));
  out.post_lock = await t(fetch(ui + '/api/lock', {method: 'POST', mode: 'no-cors',
      credentials: 'include'}));
  out.post_record = await t(fetch(ui + '/api/records', {method: 'POST', mode: 'no-cors',
      credentials: 'include', headers: {'Content-Type': 'text/plain'},
      body: JSON.stringify({type: 'case', vault: 'osh-cases', body: {case_number: 'PWNED',
                            client_alias: 'x', status: 'open'}})}));
  done(out);
})();
"""

FORM_PAGE = """<!doctype html><html><body><h1>A page of another origin</h1>
<form id="f" method="POST" enctype="text/plain" action="%s">
<input type="hidden" name='{"organisation":"PWNED-form","x":"' value='"}'>
<button type="submit">Send</button></form></body></html>"""

FRAME_PAGE = """<!doctype html><html><body><h1>Framing the UI</h1>
<iframe id="fr" src="%s/" width="600" height="400"></iframe></body></html>"""


def cross_site(C, h, b, ui, office, rid, shown_before, org):
    """Pages of other origins in the same browser (which holds the session cookie): fetch()
    with credentials and form posts must neither read nor write; the UI must not be framed."""
    check(ui.json("GET", "/api/session").get("locked") is False, "unlocked before cross-site")
    org0 = org()
    n0 = ui.json("GET", "/api/records")["total"]
    pages = {"/": "<!doctype html><html><body><h1>Another origin</h1></body></html>",
             "/form-settings": FORM_PAGE % (ui.base + "/api/settings"),
             "/form-lock": FORM_PAGE % (ui.base + "/api/lock"),
             "/frame": FRAME_PAGE % ui.base}
    srv = h.pages(pages)
    # 127.0.0.1:OTHER is the same site (ports do not make sites: SameSite=Strict still sends
    # the cookie), another origin; localhost:OTHER is another site (no cookie at all).
    for where, host in (("same-site page (127.0.0.1:OTHER)", "127.0.0.1"),
                        ("cross-site page (localhost:OTHER)", "localhost")):
        b.open(srv.url("/", host))
        out = b.js_async(CROSS_JS, ui.base)
        b.shot("cross-origin-fetch-" + host)
        unchanged = (org() == org0 and ui.json("GET", "/api/session").get("locked") is False
                     and ui.json("GET", "/api/records")["total"] == n0)
        for k in ("read_session", "read_records", "post_settings_json"):
            C.row("%s: fetch %s with credentials" % (where, k), "rejected (not readable)",
                  out[k], out[k].startswith("rejected"))
        C.row("%s: no-cors POSTs (settings, lock, new record)" % where,
              "opaque, nothing changed", "%s / %s / %s, %s" % (
                  out["post_settings_nocors"], out["post_lock"], out["post_record"],
                  "nothing changed" if unchanged else "CHANGED"), unchanged)
        for form in ("settings", "lock"):
            b.open(srv.url("/form-" + form, host))
            b.find("Send").click()
            b.wait(lambda: b.d.current_url.startswith(ui.base), 15, "the form's answer")
            time.sleep(0.3)
            txt = b.js("return document.body ? document.body.innerText : ''")
            b.shot("cross-origin-form-%s-%s" % (form, host))
            unchanged = (org() == org0 and ui.json("GET", "/api/session").get("locked") is False)
            C.row("%s: form POST to /api/%s" % (where, form),
                  "refused (%s), nothing changed" % ("403 origin/csrf" if host == "127.0.0.1"
                                                     else "401: no cookie"),
                  "%r, %s" % (txt[:50], "nothing changed" if unchanged else "CHANGED"),
                  unchanged and ("origin" in txt or "csrf" in txt or "tunduk ui" in txt)
                  and "PWNED" not in txt)
        b.console()
        mark = len(b.logs)
        b.open(srv.url("/frame", host))
        time.sleep(1.5)
        b.console()
        framed = b.js("try { return document.getElementById('fr').contentDocument ? "
                      "'readable' : 'closed' } catch (e) { return 'closed' }")
        msgs = [e["message"] for e in b.logs[mark:]
                if "frame-ancestors" in e["message"] or "X-Frame-Options" in e["message"]
                or "refused to connect" in e["message"].lower()]
        b.shot("cross-origin-frame-" + host)
        C.row("%s: <iframe> of the UI" % where, "refused (frame-ancestors 'none')",
              "%s; %s" % (framed, msgs[0][:90] if msgs else "no refusal in the console"),
              bool(msgs))
    check(office_show(office, rid, ui) == shown_before, "the record changed")
    C.row("after the cross-site pages: the record, the settings, the lock", "unchanged",
          "unchanged", True)
    b.open(ui.base + "/")


def idle_lock(C, h, b, ui):
    """idle_minutes=1, the page open on its home screen; ~65 s without a request of ours."""
    if os.environ.get("TK_WEB_IDLE_WAIT") == "0":
        C.row("idle lock after idle_minutes", "locked", "skipped (TK_WEB_IDLE_WAIT=0)", True)
        return
    ui.unlock()
    s = ui.json("POST", "/api/settings", {"idle_minutes": 1})
    C.row("POST /api/settings idle_minutes=1", "idle_minutes 1", str(s.get("idle_minutes")),
          s.get("idle_minutes") == 1)
    b.open(ui.base + "/")
    b.wait(lambda: not b.css("input[type=password]"), 20, "the page unlocked")
    b.shot("home-before-idle")
    t0 = time.time()
    time.sleep(66)
    locked = ui.json("GET", "/api/session").get("locked")
    waited = time.time() - t0
    if not locked:
        time.sleep(30)
        locked = ui.json("GET", "/api/session").get("locked")
        waited = time.time() - t0
    C.row("idle lock: idle_minutes=1, the page open on Home, no user action",
          "locked after ~60 s", "%s after %.0f s" % ("locked" if locked else "NOT locked",
                                                     waited), locked is True)
    r = ui.api("GET", "/api/records")
    C.status("after the idle lock: GET /api/records", r, 423, "locked")
    shown = wait_soft(b, "input[type=password]", 15)
    b.shot("after-idle-lock")
    C.row("after the idle lock the open page shows the unlock screen", "within 15 s",
          "shown" if shown else "NOT shown (records stay on screen)", shown)


def headers_checks(C):
    """Every response seen: CSP, nosniff, no-store, no-referrer, DENY."""
    missing = {}
    for label, r in C.responses:
        csp = r.header("Content-Security-Policy") or ""
        want = {"CSP " + p: p in csp for p in CSP_PARTS}
        want["nosniff"] = (r.header("X-Content-Type-Options") or "").lower() == "nosniff"
        want["no-store"] = "no-store" in (r.header("Cache-Control") or "")
        want["Referrer-Policy no-referrer"] = r.header("Referrer-Policy") == "no-referrer"
        want["X-Frame-Options DENY"] = (r.header("X-Frame-Options") or "").upper() == "DENY"
        for k, ok in want.items():
            if not ok:
                missing.setdefault(k, []).append("%s (%d)" % (label, r.status))
    statuses = sorted({r.status for _, r in C.responses})
    for k in ["CSP " + p for p in CSP_PARTS] + ["nosniff", "no-store",
                                                "Referrer-Policy no-referrer",
                                                "X-Frame-Options DENY"]:
        m = missing.get(k, [])
        C.row("every response has %s (%d responses, statuses %s)" % (
            k, len(C.responses), ",".join(map(str, statuses))), "all",
            "all" if not m else "%d lack it, e.g. %s" % (len(m), m[:3]), not m)


if __name__ == "__main__":
    main(test)
