"""pdf_text.py FILE: the text of each page of a PDF as Chromium (Skia) writes
it, one page per block ("--- page N ---"), for tests where poppler's
pdftotext is not installed. Enough for Skia's PDFs: objects with FlateDecode
streams, Type0/TrueType fonts with ToUnicode CMaps, text shown with
Tj/TJ of hex or literal strings. Not a general PDF reader."""
import re
import sys
import zlib

data = open(sys.argv[1], "rb").read()
objs = {}
for m in re.finditer(rb"(\d+) 0 obj\s*(.*?)endobj", data, re.S):
    objs[int(m.group(1))] = m.group(2)


def stream(body):
    m = re.search(rb"stream\r?\n(.*?)\r?\nendstream", body, re.S)
    if not m:
        return b""
    raw = m.group(1)
    if b"/FlateDecode" in body.split(b"stream", 1)[0]:
        try:
            return zlib.decompress(raw)
        except zlib.error:
            return zlib.decompressobj().decompress(raw)
    return raw


def cmap(n):
    """glyph code (bytes) -> text, from ToUnicode object n."""
    s = stream(objs.get(n, b""))
    out = {}
    for blk in re.findall(rb"beginbfchar(.*?)endbfchar", s, re.S):
        for a, b in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", blk):
            out[bytes.fromhex(a.decode())] = bytes.fromhex(b.decode()).decode("utf-16-be", "replace")
    for blk in re.findall(rb"beginbfrange(.*?)endbfrange", s, re.S):
        for a, b, c in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", blk):
            lo, hi, w = int(a, 16), int(b, 16), len(a) // 2
            base = bytes.fromhex(c.decode()).decode("utf-16-be", "replace")
            for i in range(hi - lo + 1):
                out[(lo + i).to_bytes(w, "big")] = base[:-1] + chr(ord(base[-1]) + i)
    return out


def ref(body, key):
    m = re.search(rb"/" + key + rb"\s+(\d+) 0 R", body)
    return int(m.group(1)) if m else None


def fonts_of(page):
    res = page
    r = ref(page, b"Resources")
    if r is not None:
        res = objs[r]
    m = re.search(rb"/Font\s*<<(.*?)>>", res, re.S)
    if not m:
        f = ref(res, b"Font")
        m = re.search(rb"<<(.*)>>", objs[f], re.S) if f is not None else None
    fonts = {}
    for name, n in re.findall(rb"/(\w+)\s+(\d+) 0 R", m.group(1) if m else b""):
        tu = ref(objs[int(n)], b"ToUnicode")
        fonts[name] = cmap(tu) if tu is not None else {}
    return fonts


def decode(s, cm):
    if not cm:
        return s.decode("latin-1")
    w = len(next(iter(cm)))
    return "".join(cm.get(s[i:i + w], "?") for i in range(0, len(s), w))


def literal(s):
    out, i = bytearray(), 0
    while i < len(s):
        c = s[i]
        if c == 0x5C and i + 1 < len(s):
            i += 1
            e = s[i:i + 1]
            if e.isdigit():
                j = i
                while j < len(s) and j < i + 3 and s[j:j + 1].isdigit():
                    j += 1
                out.append(int(s[i:j], 8) & 255)
                i = j
                continue
            out += {b"n": b"\n", b"r": b"\r", b"t": b"\t"}.get(e, e)
        else:
            out.append(c)
        i += 1
    return bytes(out)


def page_text(page):
    fonts = fonts_of(page)
    cs = re.findall(rb"/Contents\s+(\d+) 0 R", page)
    text, cm = [], {}
    tok = re.compile(rb"/(\w+)\s+[\d.]+\s+Tf|<([0-9A-Fa-f]*)>|\(((?:\\.|[^\\)])*)\)|(T\*|Td|TD|Tm|ET|')")
    for c in cs:
        for m in tok.finditer(stream(objs[int(c)])):
            if m.group(1):
                cm = fonts.get(m.group(1), {})
            elif m.group(2) is not None:
                text.append(decode(bytes.fromhex(m.group(2).decode()), cm))
            elif m.group(3) is not None:
                text.append(decode(literal(m.group(3)), cm))
            elif m.group(4) in (b"ET", b"T*", b"Td", b"TD", b"Tm"):
                text.append("\n")
    return re.sub(r"\n+", "\n", "".join(text))


pages = [b for n, b in sorted(objs.items()) if re.search(rb"/Type\s*/Page[^s]", b)]
for i, p in enumerate(pages, 1):
    print(f"--- page {i} ---")
    print(page_text(p))
