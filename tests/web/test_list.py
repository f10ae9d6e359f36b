"""
test_list.py (ctest web_list): the records list of the web UI on 10,000 records (the steps of
tests/bench/ui_list.py, once): the API's paging, search and filters give the right records,
the page shows the newest first and finds one record by its case number, and the search
leaves no plaintext in the home folder (it runs in memory). Prints the times measured, but
asserts only correctness. TK_WEB_LIST_COUNT changes the number of records.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "bench"))
from harness import Harness, check, log, main  # noqa: E402
import ui_list  # noqa: E402

COUNT = int(os.environ.get("TK_WEB_LIST_COUNT", "10000"))


def plaintext_in(folder, needles):
    """Files under folder holding any of needles (bytes)."""
    hits = []
    for root, _, files in os.walk(folder):
        for n in files:
            p = os.path.join(root, n)
            try:
                with open(p, "rb") as f:
                    data = f.read()
            except OSError:
                continue
            for x in needles:
                if x in data:
                    hits.append((p, x))
    return hits


def test():
    check(COUNT >= 1000, "TK_WEB_LIST_COUNT must be at least 1000")
    with Harness("list") as h:
        office, ui, b = ui_list.setup(h, COUNT, 200)
        rows, ans, newest = ui_list.server_side(ui, 1, COUNT)
        first = ans["/api/records"]
        check(first["total"] == COUNT, "total %s, wanted %d" % (first["total"], COUNT))
        check(len(first["records"]) == 200, "first page: %d records, wanted 200 (the default)"
              % len(first["records"]))
        times = [r["time"] for r in first["records"]]
        check(times == sorted(times, reverse=True), "the first page is not newest first")
        check(all(r["type"] == "case" and r["vault"] == ui_list.VAULT and r["readable"]
                  for r in first["records"]), "a record of the first page is not a readable case")
        pick = "FILL-%d" % (COUNT // 2)
        for path in ("/api/records?q=" + pick, "/api/records?q=" + pick.lower()):
            j = ans[path]
            check(j["total"] == 1 and ui_list.case_number(j["records"][0]) == pick,
                  "%s: %d records %r, wanted only %s" % (path, j["total"],
                                                         [ui_list.case_number(r) for r in
                                                          j["records"][:5]], pick))
        check(ans["/api/records?q=no-such-text"]["total"] == 0, "q=no-such-text found records")
        many = ans["/api/records?q=Client+F-1"]
        want_many = sum(1 for i in range(COUNT) if ("client f-%d" % i).find("client f-1") >= 0)
        check(many["total"] == want_many, "q=Client F-1: %d, wanted %d" % (many["total"],
                                                                           want_many))
        check(ans["/api/records?f.status=open&type=case"]["total"] == COUNT,
              "f.status=open: not every record")
        last = ans["/api/records?offset=%d" % (COUNT - 200)]
        check(len(last["records"]) == 200 and last["offset"] == COUNT - 200,
              "the last page: %d records at offset %s" % (len(last["records"]), last["offset"]))
        seen = {r["id"] for r in first["records"]} & {r["id"] for r in last["records"]}
        check(not seen, "the first and the last page share records")
        j = ui.json("GET", "/api/records?f.status=closed")
        check(j["total"] == 0, "f.status=closed found %d" % j["total"])
        j = ui.json("GET", "/api/records?limit=1000&offset=10")
        check(len(j["records"]) == 1000, "limit=1000: %d records" % len(j["records"]))
        r = ui.api("GET", "/api/records?limit=5000")
        check(r.status == 400 or (r.status == 200 and len(r.json()["records"]) <= 1000),
              "limit=5000 (max 1000): %r" % r)
        r = ui.api("GET", "/api/records?offset=-1")
        check(r.status == 400 and r.code() == "input", "offset=-1: %r" % r)

        brows = ui_list.browser_side(h, b, ui, 1, newest, COUNT)
        hits = plaintext_in(office.home, [pick.encode(), b"Client F-", b"FILL-1"])
        check(not hits, "plaintext in the home folder after the searches: %r" % hits[:3])
        log(ui_list.ms_table(rows))
        log(ui_list.ms_table(brows))
        ui.stop()


if __name__ == "__main__":
    main(test)
