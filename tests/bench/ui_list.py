"""
ui_list.py: how fast the office web UI opens and searches a large records list (issue 16:
"10,000 records stay smooth"). Not a pass/fail test (`make bench-ui`; ctest web_list runs the
same steps once and asserts only that the answers are right).

    /usr/bin/python3 tests/bench/ui_list.py [--count 10000] [--size 600] [--runs 3]

An office gets COUNT case records (tests/tools/tk_fill: sealed and signed as `tunduk new`
does; the notes SIZE random hex characters), `tunduk ui --no-browser` serves it, headless
Chromium opens the launch URL and unlocks through the page. Measured:

- server: GET /api/records (the first call after the unlock decrypts every record; then the
  warm first page), a search that matches one record, one that matches none (every record
  scanned), a filter, the last page; wall time per request over loopback (http.client);
- browser, timed inside the page (performance.now(), until the frame after the rows are in
  the DOM): the records list from a fresh page load (navigation start to the first page of
  rows rendered), the list from another screen (a click on the navigation link), and a search
  (the query put in the search field as one input event, to the results rendered; the
  page's input debounce included);
- the UI process's resident memory with every record decrypted in its cache.

Prints a table per part: median, min and max of RUNS runs.
"""

import argparse
import os
import re
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "web"))
from harness import PASSPHRASE, Harness, check, log, table  # noqa: E402

VAULT = "osh-cases"


def setup(h, count, size):
    """An office with count records, its UI, a browser unlocked on it. (office, ui, browser)"""
    office = h.office("osh-office")
    office.run("vault", "create", VAULT)
    t = time.time()
    office.fill(VAULT, count, size)
    log("filled %d records (notes %d chars) in %.1f s" % (count, size, time.time() - t))
    ui = h.ui(office)
    b = h.browser(lang="en")
    b.open(ui.launch_url)
    ui.adopt(b)
    b.unlock(PASSPHRASE)
    check(ui.json("GET", "/api/session").get("locked") is False, "the page did not unlock")
    return office, ui, b


def timed(ui, path):
    """(seconds, answer) of one GET."""
    t = time.perf_counter()
    r = ui.api("GET", path)
    dt = time.perf_counter() - t
    check(r.status == 200, "GET %s: %r" % (path, r))
    return dt, r.json()


def case_number(rec):
    m = re.search(r"FILL-\d+", rec.get("summary") or "")
    return m.group(0) if m else None


def server_side(ui, runs, count):
    """Rows (what, median, min, max in ms) of the API's timings."""
    rows = []
    dt, first = timed(ui, "/api/records")
    rows.append(("GET /api/records, the first after the unlock (decrypts all %d)" % count,
                 dt, dt, dt))
    newest = first["records"][0]
    pick = "FILL-%d" % (count // 2)
    cases = [("GET /api/records (first page of 200, warm)", "/api/records"),
             ("GET /api/records?q=%s (1 match)" % pick, "/api/records?q=" + pick),
             ("GET /api/records?q=%s (lower case)" % pick.lower(),
              "/api/records?q=" + pick.lower()),
             ("GET /api/records?q=no-such-text (0 matches, all scanned)",
              "/api/records?q=no-such-text"),
             ("GET /api/records?q=Client+F-1 (many matches)", "/api/records?q=Client+F-1"),
             ("GET /api/records?f.status=open&type=case (filter)",
              "/api/records?f.status=open&type=case"),
             ("GET /api/records?offset=%d (the last page)" % max(0, count - 200),
              "/api/records?offset=%d" % max(0, count - 200))]
    answers = {}
    for what, path in cases:
        ts = []
        for _ in range(runs):
            dt, j = timed(ui, path)
            ts.append(dt)
        answers[path] = j
        rows.append((what, statistics.median(ts), min(ts), max(ts)))
    return rows, answers, newest


# Inside the page: waits (each animation frame) until the visible text of the page contains
# want (and not notwant), then resolves with performance.now() - t0 (t0 given, or 0: the
# navigation start of a fresh load).
WAIT_JS = r"""
const [want, notwant, t0, limit, done] = arguments;
const end = performance.now() + limit;
function ok() {
  const t = document.body ? document.body.innerText : '';
  return t.includes(want) && !(notwant && t.includes(notwant));
}
function step() {
  if (ok()) { requestAnimationFrame(() => done({ms: performance.now() - t0})); return; }
  if (performance.now() > end) { done({ms: -1}); return; }
  requestAnimationFrame(step);
}
step();
"""

# Clicks el at t0 and waits as WAIT_JS does.
CLICK_WAIT_JS = r"""
const [el, want, notwant, limit, done] = arguments;
const t0 = performance.now();
const end = t0 + limit;
function ok() {
  const t = document.body ? document.body.innerText : '';
  return t.includes(want) && !(notwant && t.includes(notwant));
}
function step() {
  if (ok()) { requestAnimationFrame(() => done({ms: performance.now() - t0})); return; }
  if (performance.now() > end) { done({ms: -1}); return; }
  requestAnimationFrame(step);
}
el.click();
requestAnimationFrame(step);
"""

# Puts the query into the search field as one input event (a paste) at t0 and waits.
SEARCH_WAIT_JS = r"""
const [el, q, want, notwant, limit, done] = arguments;
const t0 = performance.now();
const end = t0 + limit;
function ok() {
  const t = document.body ? document.body.innerText : '';
  return t.includes(want) && !(notwant && t.includes(notwant));
}
function step() {
  if (ok()) { requestAnimationFrame(() => done({ms: performance.now() - t0})); return; }
  if (performance.now() > end) { done({ms: -1}); return; }
  requestAnimationFrame(step);
}
el.focus();
el.value = q;
el.dispatchEvent(new Event('input', {bubbles: true}));
el.dispatchEvent(new Event('change', {bubbles: true}));
requestAnimationFrame(step);
"""


def records_link(b):
    """The navigation link of the records list."""
    for sel in ("nav a[href*='records']", "a[href*='records']"):
        els = b.css(sel)
        if els:
            return els[0]
    return b.find("Records", sel="a,button,[role=link],[role=tab]")


def home_link(b):
    for sel in ("nav a[href='#/']", "nav a[href='#/home']", "nav a[href='#home']",
                "a[href='#/']"):
        els = b.css(sel)
        if els:
            return els[0]
    return b.find("Home", sel="a,button,[role=link],[role=tab]")


def search_field(b):
    els = b.css("input[type=search]")
    if els:
        return els[0]
    return b.by_label("Search")


def browser_side(h, b, ui, runs, newest, count, shots=True):
    """Rows (what, median, min, max in ms); checks each wait found what it waited for."""
    want_first = case_number(newest)
    check(want_first, "the newest record's summary has no case number: %r" % newest)
    pick = "FILL-%d" % (count // 2)
    limit = 60000
    b.d.set_script_timeout(limit / 1000 + 10)
    rows = []
    # the list from a fresh page load; its address: the records link's
    b.open(ui.base + "/")
    b.wait(lambda: records_link(b), 30, "the records link")
    href = records_link(b).get_attribute("href")
    loads = []
    for i in range(runs):
        b.open("about:blank")
        b.open(href)
        r = b.js_async(WAIT_JS, want_first, None, 0, limit)
        check(r["ms"] >= 0, "the fresh list never showed %s" % want_first)
        loads.append(r["ms"])
    if shots:
        b.shot("records-10k")
    rows.append(("open the list: fresh page load to the first page rendered", loads))
    # from Home by the navigation link
    clicks = []
    for i in range(runs):
        home_link(b).click()
        b.wait(lambda: want_first not in b.js("return document.body.innerText"), 20,
               "the home screen (without the list)")
        r = b.js_async(CLICK_WAIT_JS, records_link(b), want_first, None, limit)
        check(r["ms"] >= 0, "the list never showed %s after the click" % want_first)
        clicks.append(r["ms"])
    rows.append(("open the list: click on Records (from Home) to rendered", clicks))
    # search
    searches = []
    for i in range(runs):
        q = "FILL-%d" % (count // 2 - i)
        f = search_field(b)
        r = b.js_async(SEARCH_WAIT_JS, f, q, q, want_first, limit)
        check(r["ms"] >= 0, "searching %s never showed it alone" % q)
        searches.append(r["ms"])
        if shots and i == 0:
            b.shot("records-10k-search")
        # back to the whole list
        r = b.js_async(SEARCH_WAIT_JS, f, "", want_first, None, limit)
        check(r["ms"] >= 0, "clearing the search never showed the whole list again")
    rows.append(("search: query in the field to the results rendered (1 of %d)" % count,
                 searches))
    # a search with no match, one that scans everything
    none = []
    for i in range(runs):
        f = search_field(b)
        t = b.js_async(SEARCH_WAIT_JS, f, "no-such-text-%d" % i, "", want_first, limit)
        check(t["ms"] >= 0, "a search without matches still showed the list")
        none.append(t["ms"])
        b.js_async(SEARCH_WAIT_JS, f, "", want_first, None, limit)
    rows.append(("search without a match (list emptied)", none))
    del pick
    return [(w, statistics.median(v) / 1000, min(v) / 1000, max(v) / 1000) for w, v in rows]


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def ms_table(rows):
    return table([(w, "%.0f" % (md * 1000), "%.0f" % (mn * 1000), "%.0f" % (mx * 1000))
                  for w, md, mn, mx in rows], ("what", "median ms", "min ms", "max ms"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--size", type=int, default=600)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    with Harness("bench-ui-list") as h:
        office, ui, b = setup(h, a.count, a.size)
        srv, _, newest = server_side(ui, a.runs, a.count)
        rss = rss_kib(ui.proc.p.pid)
        br = browser_side(h, b, ui, a.runs, newest, a.count)
        log("")
        log("web UI, %d records (notes %d chars), %d runs; server: wall time of the request "
            "over loopback; browser: in the page, to the frame after the rows" %
            (a.count, a.size, a.runs))
        log(ms_table(srv))
        log("")
        log(ms_table(br))
        if rss:
            log("")
            log("tunduk ui resident memory with %d records decrypted: %.1f MiB" %
                (a.count, rss / 1024))
        ui.stop()


if __name__ == "__main__":
    main()
