"""
test_lawyer_day.py (ctest web_lawyer_day): a lawyer's working day in the web UI, in a real
headless Chromium, against a real hub and a colleague's office, every control found by its
label (as a screen reader would), a screenshot of each screen in TK_ARTIFACTS.

The lawyer at the Osh office: unlocks (a wrong passphrase first), sets the organisation's name,
creates the vault and gives it to the Bishkek colleague (the device id shown with its name),
records a case with two hearings (a failed save first: every problem next to its field, nothing
stored), an appeal and a testimony that point at the case through the searchable picker,
attaches a scan (streamed up, previewed, downloaded byte for byte), syncs to the hub. The
colleague's testimony arrives and shows who wrote it by name; both offices edit the same case,
the lawyer resolves the conflict field by field and the colleague gets the merge. The case
report opens, prints to PDF (page numbers, the organisation, Cyrillic), and "Lock now" leaves
nothing on screen. Last, with a short idle time: typing a long testimony keeps the office
open, sitting still locks it and the open form leaves the screen.
"""

import base64
import hashlib
import json
import os
import re
import struct
import subprocess
import sys
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import Harness, check, log, main  # noqa: E402

ORG = "Бюро по правам человека · Osh"
IDLE = 20  # TUNDUK_UI_IDLE_SECONDS of the last part


def png(path, w, h):
    """A w x h PNG of random pixels, stored uncompressed (a large 'scan'); its bytes."""
    raw = b"".join(b"\x00" + os.urandom(3 * w) for _ in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xffffffff)
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw, 0)) + chunk(b"IEND", b""))
    with open(path, "wb") as f:
        f.write(data)
    return data


def click(b, name, exact=False, sel=None):
    el = b.find(name, exact, sel)
    b.js("arguments[0].scrollIntoView({block: 'center'})", el)
    el.click()
    return el


def nav(b, name):
    """A link of the main navigation."""
    return click(b, name, exact=True, sel="#nav a")


def sync_now(b, shot):
    """Home, "Sync now", waits for the outcome in words; the outcome's text."""
    nav(b, "Home")
    b.wait_text("What needs attention")
    click(b, "Sync now", exact=True)
    out = b.wait(lambda: (b.css("#sync-outcome") or [None])[0] and
                 b.css("#sync-outcome")[0].text.strip(), 120, "the sync's outcome")
    b.shot(shot)
    check("did not finish" not in out, "the sync failed: %r" % out)
    return out


def fill(b, label, text):
    b.type(b.by_label(label), text)


def type_date(b, el, iso):
    """Types an ISO date into a date input as a person would: the parts in the order the
    browser's locale shows them."""
    y, m, d = iso.split("-")
    order = b.js("return new Intl.DateTimeFormat(navigator.language).formatToParts("
                 "new Date(2026, 0, 2)).filter(p => p.type !== 'literal').map(p => p.type)")
    part = {"year": y, "month": m, "day": d}
    b.js("arguments[0].scrollIntoView({block: 'center'})", el)
    el.send_keys("".join(part[k] for k in order))


def date(b, label, iso):
    type_date(b, b.by_label(label), iso)


def pick(b, field_label, search, want):
    """A record reference: types into the picker of field_label, chooses the option
    containing want."""
    box = b.by_label(field_label)
    b.type(box, search)
    opt = b.wait(lambda: [o for o in b.css("[role=option]") if want in o.text], 15,
                 "an option %r in the picker of %r" % (want, field_label))[0]
    opt.click()
    b.wait(lambda: want in b.text(), 10, "the chosen record %r shown" % want)


def save_and_open(b, label="Save"):
    click(b, label, exact=True, sel="button")
    b.wait(lambda: re.search(r"#/record/[0-9a-f]{32}$", b.d.current_url), 20,
           "the saved record's page")
    return b.d.current_url.rsplit("/", 1)[1]


def new_form(b, type_label):
    """New record, the type chosen, Continue: the empty form."""
    nav(b, "New record")
    b.select(b.by_label("Type"), type_label)
    click(b, "Continue", exact=True)
    b.wait_text("New: " + type_label)


def cli_body(office, rid):
    return json.loads(office.run("show", rid, "--json"))["body"]


def test():
    with Harness("lawyer_day") as h:
        hub = h.hub()
        osh = h.office("osh-office", hub, "osh-cases:rw")
        bishkek = h.office("bishkek-office", hub, "osh-cases:rw")
        ui = h.ui(osh)
        b = h.browser()

        # ---- unlock ------------------------------------------------------------------------
        b.open(ui.launch_url)
        f = b.by_label("Passphrase", timeout=30)
        b.shot("unlock")
        b.type(f, "not the passphrase\n")
        b.wait_text("Wrong passphrase", 30)
        b.shot("unlock-wrong")
        b.unlock()
        b.wait_text("What needs attention")
        b.shot("home-first")
        check("Not synced yet" in b.text() or "Last sync" in b.text(), "Home says nothing of sync")

        # ---- settings: the organisation ----------------------------------------------------
        nav(b, "Settings")
        fill(b, "Organisation", ORG)
        click(b, "Save", exact=True, sel="button")
        b.wait_text("Settings saved")
        b.shot("settings")
        check(b.css("#org") and b.css("#org")[0].text == ORG,
              "the header does not show the organisation")
        version = re.search(r"project\(tunduk VERSION ([0-9.]+)", open(os.path.join(
            os.environ["TK_SOURCE_DIR"], "CMakeLists.txt")).read()).group(1)
        check(b.by_label("Organisation") and version in b.text(),
              "Settings does not show the version")

        # ---- the vault, given to the colleague ---------------------------------------------
        sync_now(b, "home-first-sync")   # learns the hub's devices
        nav(b, "Vaults")
        fill(b, "Name", "osh-cases")
        click(b, "Create", exact=True, sel="button")
        b.wait_text("Vault osh-cases created")
        # the colleague chosen by name: the hub's directory of those who share the vault,
        # learned at the first sync; then the id compared with them out of band
        who = b.by_label("Colleague’s device")
        named = [o for o in b.options(who) if o.startswith("bishkek-office · ")]
        check(named, "the colleague is not offered by name: %r" % b.options(who))
        b.select(who, named[0])
        click(b, "Next: compare the id", exact=True)
        b.wait_text("Compare the device id")
        box = b.css("#grant-confirm")[0].text
        check("bishkek-office" in box and bishkek.id.replace("-", "") in
              re.sub(r"[\s-]", "", box),
              "the name and the whole id to compare are not shown: %r" % box)
        b.shot("vault-grant-compare")
        click(b, "I compared every group", sel="input")
        click(b, "Grant access", exact=True)
        b.wait_text("now holds the key of osh-cases", 60)
        # the notice comes first, then the Vaults screen is drawn again with the new member
        b.wait(lambda: bishkek.id in b.text(), 20, "the colleague listed as a member")
        b.shot("vaults")
        sync_now(b, "home-after-grant")
        bishkek.run("sync")

        # ---- a case: a failed save first ---------------------------------------------------
        new_form(b, "Case")
        fill(b, "Case number", "OSH-2026-114")
        fill(b, "Short description", "Beaten in Osh police custody")
        b.select(b.by_label("Status"), "In court")
        b.select(b.by_label("Proceeding"), "Criminal")
        click(b, "Torture", exact=True, sel="input[type=checkbox]")
        date(b, "Date opened", "2026-02-03")
        date(b, "Date closed", "2026-02-01")  # before opened: validate() refuses
        click(b, "Add to “Hearings”")
        click(b, "Add to “Hearings”")
        fill(b, "Court", "Osh city court")  # the case's court
        courts = b.by_name("Court", exact=True, sel="input")
        check(len(courts) == 3, "wanted 3 Court inputs (the case and 2 hearings), got %d"
              % len(courts))
        b.type(courts[1], "Osh city court")
        b.type(courts[2], "Osh regional court")
        outcomes = b.by_name("Outcome", exact=True, sel="input")
        b.type(outcomes[0], "adjourned")
        dates = [d for d in b.by_name("Date", sel="input[type=date]")
                 if (d.get_attribute("name") or "").startswith("hearings[")]
        check(len(dates) == 2, "wanted 2 hearing Date inputs, got %d" % len(dates))
        type_date(b, dates[0], "2026-05-04")  # the second hearing keeps no date: refused
        n_before = len(json.loads(osh.run("list", "--json") or "[]"))
        click(b, "Save", exact=True, sel="button")
        b.wait_text("Nothing was saved", 20)
        b.shot("case-problems")
        txt = b.text()
        # every problem at once: the host's field checks and the type's validate()
        for need in ("Client alias", "Hearings 2 · Date", "is before 'opened'"):
            check(need in txt, "the problem of %r is not named: %s" % (need, txt[:1500]))
        bad = b.js("return [...document.querySelectorAll('[aria-invalid=true]')]"
                   ".map(e => e.getAttribute('name'))")
        for need in ("client_alias", "hearings[2].date", "closed"):
            check(need in bad, "%s is not marked invalid next to its field: %r" % (need, bad))
        check(len(json.loads(osh.run("list", "--json") or "[]")) == n_before,
              "a refused save stored a record")
        fill(b, "Client alias", "Client A-7")
        type_date(b, [d for d in b.by_name("Date", sel="input[type=date]")
                      if d.get_attribute("name") == "hearings[2].date"][0], "2026-06-09")
        closed = b.by_label("Date closed")
        b.js("arguments[0].scrollIntoView({block: 'center'}); arguments[0].focus()", closed)
        for _ in range(3):  # each part of the date cleared with the keyboard
            closed.send_keys("\b\t")
        b.wait(lambda: not b.css("[aria-invalid=true]"), 15,
               "the live check clearing the fixed problems")
        b.shot("case-fixed")
        check(len(json.loads(osh.run("list", "--json") or "[]")) == n_before,
              "a refused save stored a record")
        case_id = save_and_open(b)
        b.wait_text("Saved: a new record")
        b.shot("case")
        body = cli_body(osh, case_id)
        check(body.get("status") == "in_court" and body.get("violations") == ["torture"] and
              body.get("opened") == "2026-02-03" and "closed" not in body,
              "the case as stored: %r" % body)
        check([x.get("date") for x in body.get("hearings", [])] == ["2026-05-04", "2026-06-09"],
              "the hearings as stored: %r" % body.get("hearings"))
        for need in ("In court", "Criminal", "Torture", "Osh regional court"):
            check(need in b.text(), "the record page does not show %r" % need)
        check("in_court" not in b.text(), "the record page shows the raw enum value in_court")

        # ---- an appeal and a testimony, pointing at the case -------------------------------
        new_form(b, "Appeal")
        fill(b, "Subject", "Investigate the beating")
        fill(b, "Addressee", "Osh regional prosecutor")
        pick(b, "Case", "OSH-2026-114", "OSH-2026-114")
        date(b, "Date sent", "2026-01-10")
        date(b, "Reply due", "2026-02-10")
        b.select(b.by_label("Outcome"), "Pending")
        appeal_id = save_and_open(b)
        b.shot("appeal")
        check(cli_body(osh, appeal_id).get("related_case") == case_id,
              "the appeal does not point at the case")

        new_form(b, "Testimony")
        fill(b, "Witness alias", "Witness W-3")
        b.select(b.by_label("Consent"), b.options(b.by_label("Consent"))[1])
        fill(b, "Narrative", "Меня били в отделе милиции.")
        pick(b, "Case", "OSH-2026", "OSH-2026-114")
        testimony_id = save_and_open(b)
        b.shot("testimony")

        # ---- an attachment: streamed up, previewed, downloaded -----------------------------
        b.open(ui.base + "/#/record/" + case_id)
        b.wait_text("Attachments")
        scan = h.path("scan-of-the-complaint.png")
        data = png(scan, 1100, 800)  # 2.6 MB: several pieces
        b.upload(b.by_label("File"), scan)
        click(b, "Upload", exact=True, sel="button")
        b.wait_text("scan-of-the-complaint.png attached", 120)
        img = b.wait(lambda: [i for i in b.css("img") if b.js(
            "return arguments[0].complete && arguments[0].naturalWidth", i) == 1100], 30,
            "the image preview")
        check(img, "no preview")
        b.shot("case-attachment")
        click(b, "Download scan-of-the-complaint.png")
        got = b.wait_download("scan-of-the-complaint.png")
        with open(got, "rb") as fh:
            check(hashlib.sha256(fh.read()).digest() == hashlib.sha256(data).digest(),
                  "the downloaded file differs from the one attached")

        # ---- sync; the colleague's testimony arrives ---------------------------------------
        out = sync_now(b, "home-sync-push")
        log("sync outcome: %s" % out)
        b.wait(lambda: "Everything written here is at the hub" in b.text(), 20,
               "Home saying everything is at the hub")
        bishkek.run("sync")
        theirs = bishkek.new("testimony", "osh-cases", {
            "witness_alias": "Witness B-1", "consent": "written",
            "narrative": "Seen at the bishkek-office", "related_case": case_id})
        bishkek.run("sync")
        out = sync_now(b, "home-sync-pull")
        nav(b, "Records")
        box = b.by_label("Search")
        b.type(box, "Witness B-1")
        b.wait(lambda: len(b.css("table.list tbody tr")) == 1, 20, "one record found")
        b.shot("records-search")
        click(b, "Witness B-1", sel="a")
        b.wait_text("History")
        check("bishkek-office" in b.text(), "the history does not name the colleague's device")
        b.shot("colleague-record")
        check(theirs in b.d.current_url, "opened another record than the colleague's")

        # ---- a conflict, resolved field by field -------------------------------------------
        theirs_body = cli_body(bishkek, case_id)
        theirs_body["title"] = "Beaten in custody; medical report obtained"
        bishkek.run("edit", case_id, "-", input=json.dumps(theirs_body))
        bishkek.run("sync")
        b.open(ui.base + "/#/edit/" + case_id)
        fill(b, "Short description", "Beaten in custody; complaint filed")
        click(b, "Save changes", exact=True)
        b.wait_text("Saved.")
        sync_now(b, "home-conflict")
        b.wait(lambda: re.search(r"\b1\s*records in conflict", b.text()), 10,
               "Home counting 1 record in conflict")
        nav(b, "Conflicts")
        b.wait_text("Two offices edited these records")
        b.shot("conflicts")
        click(b, "OSH-2026-114", sel="a")
        b.wait_text("The versions side by side")
        b.wait(lambda: "automatic merge does not apply" in b.text(), 20,
               "the automatic merge declined (both changed the title)")
        b.shot("conflict-side-by-side")
        radio = b.wait(lambda: [r for r in b.css("input[type=radio]") if "medical report" in
                                b.js("return arguments[0].closest('label').textContent", r)],
                       10, "the colleague's title as a choice")[0]
        radio.click()
        click(b, "Save as the merge", exact=True)
        b.wait_text("Saved as the merge")
        check(cli_body(osh, case_id)["title"] == theirs_body["title"], "the merge kept another title")
        sync_now(b, "home-after-merge")
        bishkek.run("sync")
        shown = cli_body(bishkek, case_id)
        check(shown["title"] == theirs_body["title"], "the colleague did not get the merge")
        left = bishkek.run("conflicts", "--json")
        check(case_id not in left, "the colleague still sees the case in conflict: %s" % left)

        # ---- the report, printed --------------------------------------------------------------
        nav(b, "Reports")
        pick(b, "Case", "OSH-2026-114", "OSH-2026-114")
        href = b.find("Open the report", exact=True).get_attribute("href")
        check(href and "/api/report?" in href, "the report link: %r" % href)
        b.open(href)
        b.wait_text("OSH-2026-114", 20)
        b.shot("report")
        rt = b.text()
        for need in (ORG, "Investigate the beating", "Witness W-3", "Witness B-1",
                     "Меня били", "In court", "Osh regional court",
                     "scan-of-the-complaint.png"):
            check(need in rt, "the report lacks %r" % need)
        check(re.search(r"overdue", rt, re.I), "the overdue appeal is not flagged")
        check("in_court" not in rt and "Written and signed" in rt,
              "the report shows raw enum names, not their labels")
        pdf = b.d.execute_cdp_cmd("Page.printToPDF", {"printBackground": True})
        pdf_path = os.path.join(h.artifacts, "report.pdf")
        with open(pdf_path, "wb") as fh:
            fh.write(base64.b64decode(pdf["data"]))
        text = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "..", "integration", "lib",
                                                                "pdf_text.py"), pdf_path],
                              stdout=subprocess.PIPE, check=True).stdout.decode("utf-8")
        pages = re.split(r"--- page \d+ ---\n", text)[1:]
        flat = [re.sub(r"\s+", "", p) for p in pages]
        check(pages, "the printed report has no pages")
        for i, p in enumerate(flat, 1):
            check(("Page%dof%d" % (i, len(pages))) in p, "page %d lacks its number: %s" % (i, p[:300]))
        check(re.sub(r"\s+", "", ORG) in flat[0], "the organisation is not on the printed page")
        check("Менябили" in "".join(flat), "the Cyrillic narrative is not in the PDF")
        log("the report printed on %d page(s)" % len(pages))

        # ---- lock now ---------------------------------------------------------------------------
        b.open(ui.base + "/#/record/" + case_id)
        b.wait_text("OSH-2026-114")
        click(b, "Lock now", exact=True)
        b.wait_css("input[type=password]")
        b.shot("locked")
        check("OSH-2026-114" not in b.text() and "Client A-7" not in b.text(),
              "record text stays on screen after Lock now")
        ui.adopt(b)
        r = ui.api("GET", "/api/records")
        check(r.status == 423, "GET /api/records after Lock now: %r" % r)
        ui.stop()

        # ---- the idle lock, while typing and when still -----------------------------------
        ui2 = h.ui(osh, env={"TUNDUK_UI_IDLE_SECONDS": str(IDLE)})
        b.open(ui2.launch_url)
        b.unlock()
        b.open(ui2.base + "/#/new/testimony?vault=osh-cases")
        area = b.by_label("Narrative")
        ui2.adopt(b)
        t0 = time.time()
        while time.time() - t0 < IDLE * 1.6:
            area.send_keys("слово ")
            time.sleep(2)
        s = ui2.json("GET", "/api/session")
        check(s["locked"] is False, "typing for %.0f s (idle %d s) locked the office"
              % (time.time() - t0, IDLE))
        check(b.css("textarea"), "the form left the screen while typing")
        t1 = time.time()
        b.wait_css("input[type=password]", IDLE + 30)
        waited = time.time() - t1
        b.shot("idle-locked")
        check("слово" not in b.text(), "the half-written testimony stays on screen when locked")
        check(ui2.json("GET", "/api/session")["locked"] is True, "the server is not locked")
        log("idle lock (%d s): typing for %.0f s kept it open; still, locked after %.0f s"
            % (IDLE, IDLE * 1.6, waited))
        ui2.stop()


if __name__ == "__main__":
    main(test)
