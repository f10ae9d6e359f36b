#!/usr/bin/python3
"""An independent reader of the protocol vectors (proto/vectors/*.json).

Written from proto/PROTOCOL.md (and the message field numbers of proto/tunduk.proto), not
from the C implementation: it decodes the token, checks identities, recomputes key ids,
parses revision envelopes byte by byte, recomputes their ids, verifies signatures, derives
body keys, decrypts and decompresses bodies, decrypts attachment chunks, replays the
membership log and opens grants. Python 3's standard library, PyNaCl (Debian python3-nacl)
and the zstd command-line tool (Debian zstd) for zstd frames.

    /usr/bin/python3 tests/vectors/check_vectors.py proto/vectors

Where PROTOCOL.md left something out, the comment says "GAP" and names the section: those
are the places a third party would have had to guess.
"""

import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile

import nacl.bindings as nb
import nacl.exceptions
import nacl.signing

FAILS = []
CHECKS = [0]


def check(cond, what):
    CHECKS[0] += 1
    if not cond:
        FAILS.append(what)
        print("FAIL:", what, file=sys.stderr)
    return cond


def h(s):
    return bytes.fromhex(s)


def sha256(b):
    return hashlib.sha256(b).digest()


def blake2b_256_keyed(key, msg):
    # 5.1: keyed BLAKE2b with a 32-byte output.
    return hashlib.blake2b(msg, digest_size=32, key=key).digest()


def ed25519_ok(pk, msg, sig):
    try:
        nacl.signing.VerifyKey(pk).verify(msg, sig)
        return True
    except nacl.exceptions.BadSignatureError:
        return False


def zstd_frame_info(frame):
    """RFC 8878 3.1.1.1: (states its content size, carries a checksum) from the frame header."""
    if len(frame) < 5 or frame[:4] != b"\x28\xb5\x2f\xfd":
        raise ValueError("not a zstd frame")
    fhd = frame[4]
    fcs_flag, single_segment, checksum = fhd >> 6, (fhd >> 5) & 1, (fhd >> 2) & 1
    return (fcs_flag != 0 or single_segment == 1), checksum == 1


def zstd_decompress(frame, limit, prefix=None):
    # 5.5: one zstd frame stating its content size, at most 1 MiB; a delta's frame is
    # decoded with the base's JSON as a raw-content prefix (the zstd tool's --patch-from).
    sized, _ = zstd_frame_info(frame)
    if not sized:
        raise ValueError("zstd frame does not state its content size")
    cmd = ["zstd", "-d", "-c", "-q", "--no-progress"]
    tmp = None
    if prefix is not None:
        with tempfile.NamedTemporaryFile(delete=False) as f:
            f.write(prefix)
            tmp = f.name
        cmd.append("--patch-from=" + tmp)
    try:
        out = subprocess.run(cmd, input=frame, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             check=False)
    finally:
        if tmp:
            os.unlink(tmp)
    if out.returncode != 0:
        raise ValueError("zstd: " + out.stderr.decode(errors="replace").strip())
    if len(out.stdout) > limit:
        raise ValueError("zstd frame decodes past the limit")
    return out.stdout


def load(d, name):
    with open(os.path.join(d, name), encoding="utf-8") as f:
        return json.load(f)


# ---- section 4: device ids, identities, tokens -------------------------------------------

B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def device_id_printed(dev_id):
    # 4: 52 base32 characters (RFC 4648 alphabet, no padding), 13 dash-separated groups of 4.
    s = base64.b32encode(dev_id).decode().rstrip("=")
    assert len(s) == 52
    return "-".join(s[i:i + 4] for i in range(0, 52, 4))


def check_identities(d):
    devs = {}
    for dev in load(d, "identities.json")["devices"]:
        name = dev["name"]
        sign_pk = h(dev["sign_pk"])
        kx_pk, kx_sk = h(dev["kx_pk"]), h(dev["kx_sk"])
        # Ed25519 key from its 32-byte seed (RFC 8032); sign_sk is libsodium's seed || pk.
        pk, sk = nb.crypto_sign_seed_keypair(h(dev["sign_seed"]))
        check(pk == sign_pk, name + ": sign_pk from sign_seed")
        check(sk == h(dev["sign_sk"]), name + ": sign_sk is seed || pk")
        check(nb.crypto_scalarmult_base(kx_sk) == kx_pk, name + ": kx_pk = X25519(kx_sk)")
        # 4: kx_sig = Ed25519 over "tunduk kx binding v1" || kx_pk.
        check(ed25519_ok(sign_pk, b"tunduk kx binding v1" + kx_pk, h(dev["kx_sig"])),
              name + ": kx_sig verifies")
        dev_id = sha256(sign_pk)
        check(dev_id == h(dev["device_id"]), name + ": device id = SHA-256(sign_pk)")
        check(device_id_printed(dev_id) == dev["device_id_printed"],
              name + ": printed device id")
        devs[name] = {"sign_pk": sign_pk, "kx_pk": kx_pk, "kx_sk": kx_sk, "id": dev_id}
    return devs


def check_token(d, devs):
    t = load(d, "token.json")
    text = t["text"]
    check(text.startswith("tk1-"), "token: tk1- prefix")
    b64 = text[4:]
    raw = base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4))
    # 4, Enrollment: version 1 | hub id 32 | token id 16 | secret 32 | expiry 8 | 1 + n address.
    f = t["fields"]
    check(raw[0] == 1 and f["version"] == 1, "token: version byte")
    check(raw[1:33] == h(f["hub_id"]), "token: hub id")
    check(raw[1:33] == devs["hub"]["id"], "token: hub id is the hub of identities.json")
    check(raw[33:49] == h(f["token_id"]), "token: token id")
    check(raw[49:81] == h(f["secret"]), "token: secret")
    check(int.from_bytes(raw[81:89], "big") == f["expires"], "token: expiry")
    n = raw[89]
    check(len(raw) == 90 + n, "token: address length byte covers the rest")
    check(raw[90:90 + n].decode() == f["addr"], "token: address")
    check(sha256(raw[49:81]) == h(t["secret_sha256"]), "token: hub keeps SHA-256(secret)")
    # No padding in the text form.
    check("=" not in b64, "token: base64url without padding")


# ---- section 5: key ids and revisions ----------------------------------------------------


def key_id(vault_key):
    # 5.2: first 8 bytes of BLAKE2b-256(key = vault key, "tunduk key id v1").
    return blake2b_256_keyed(vault_key, b"tunduk key id v1")[:8]


def check_vault_keys(d):
    keys = {}
    for k in load(d, "vault_keys.json")["keys"]:
        kid = key_id(h(k["key"]))
        check(kid == h(k["key_id"]), "vault key id " + k["key_id"])
        keys[kid] = h(k["key"])
    return keys


class Reader:
    def __init__(self, b):
        self.b, self.off = b, 0

    def take(self, n, what):
        if self.off + n > len(self.b):
            raise ValueError("revision cut short in " + what)
        v = self.b[self.off:self.off + n]
        self.off += n
        return v

    def u(self, n, what):
        return int.from_bytes(self.take(n, what), "big")


def parse_revision(b):
    # 5.3, field by field.
    r = Reader(b)
    rev = {}
    if r.take(4, "magic") != b"TKR1":
        raise ValueError("magic")
    rev["record_id"] = r.take(16, "record_id")
    rev["author_pk"] = r.take(32, "author_pk")
    rev["hlc"] = r.u(8, "hlc")
    rev["generation"] = r.u(4, "generation")
    tl = r.u(1, "type_len")
    rev["type"] = r.take(tl, "type").decode("ascii")
    vl = r.u(1, "vault_len")
    rev["vault"] = r.take(vl, "vault").decode("ascii")
    rev["key_id"] = r.take(8, "key_id")
    rev["salt"] = r.take(16, "salt")
    rev["nonce"] = r.take(24, "nonce")
    np_ = r.u(1, "nparents")
    rev["parents"] = [r.take(32, "parents") for _ in range(np_)]
    na = r.u(2, "nattach")
    rev["attach"] = [r.take(32, "attach") for _ in range(na)]
    bl = r.u(4, "body_len")
    header_end = r.off
    rev["ciphertext"] = r.take(bl, "ciphertext")
    rev["sig"] = r.take(64, "sig")
    if r.off != len(b):
        raise ValueError("bytes after sig")
    rev["header"] = b[:header_end]
    rev["signed"] = b[:header_end + bl]
    # The 5.3 refusals a reader can see without context.
    if not (1 <= tl <= 32 and 1 <= vl <= 64 and np_ <= 64 and na <= 4096):
        raise ValueError("a count past its limit")
    if not 17 <= bl <= 1048593:
        raise ValueError("body_len out of bounds")
    if rev["generation"] == 0 or (np_ == 0) != (rev["generation"] == 1):
        raise ValueError("generation does not fit the parents")
    if any(rev["parents"][i] >= rev["parents"][i + 1] for i in range(np_ - 1)):
        raise ValueError("parents not strictly ascending")
    return rev


def open_body(rev, vault_key, bodies=None):
    """5.4 body key, AEAD with ad = header, then 5.5's encoding byte. bodies maps a revision
    id to (its parsed header, its body JSON) for a delta's base."""
    bk = blake2b_256_keyed(vault_key, b"tunduk body key v1" + rev["salt"])
    plain = nb.crypto_aead_xchacha20poly1305_ietf_decrypt(rev["ciphertext"], rev["header"],
                                                         rev["nonce"], bk)
    enc = plain[0]
    if enc == 0:
        body = plain[1:]
    elif enc == 1:
        body = zstd_decompress(plain[1:], 1 << 20)
    elif enc == 2:
        if len(plain) < 2 or plain[1] >= len(rev["parents"]):
            raise ValueError("delta index past the parents")
        base_id = rev["parents"][plain[1]]
        if bodies is None or base_id not in bodies:
            raise ValueError("delta base %s not at hand" % base_id.hex())
        base_rev, base_body = bodies[base_id]
        if (base_rev["record_id"], base_rev["vault"], base_rev["type"]) != (
                rev["record_id"], rev["vault"], rev["type"]):
            raise ValueError("delta base of another record, vault or type")
        if not zstd_frame_info(plain[2:])[1]:
            raise ValueError("delta frame without zstd's checksum")
        body = zstd_decompress(plain[2:], 1 << 20, prefix=base_body)
    else:
        raise ValueError("unknown encoding byte %d" % enc)
    return bk, plain, enc, body


def chunk_nonce(i):
    # 8: nonce = u64be(i) || 16 zero bytes.
    return i.to_bytes(8, "big") + bytes(16)


def check_attachments(v, body_json, rev):
    # 8: the _attachments list in the body.
    # 8.2 (the version of PROTOCOL.md on main named what the list holds but not its JSON).
    atts = body_json.get("_attachments")
    if not check(isinstance(atts, list) and len(atts) == 1, "attachments: one in the body"):
        return
    a = atts[0]
    check(isinstance(a.get("name"), str) and 1 <= len(a["name"].encode()) <= 255 and
          "/" not in a["name"] and isinstance(a.get("size"), int) and a["size"] >= 0 and
          len(a.get("sha256", "")) == 64 and len(a.get("key", "")) == 64 and
          len(a.get("chunks", [])) == -(-a["size"] // (256 * 1024)) and
          all(len(c) == 64 for c in a["chunks"]), "attachments: 8.2's members and lengths")
    va = v["attachments"][0]
    key = h(a["key"])
    check(key == h(va["key"]) and a["name"] == va["name"] and a["size"] == va["size"],
          "attachments: body list is the vector's")
    # 5.3: header refs = every chunk id of every attachment, in list order.
    refs = [h(c) for att in atts for c in att["chunks"]]
    check(refs == rev["attach"], "attachments: header refs are the body's chunk ids")
    # The file: byte k = (k * 7 + 3) mod 251 (the vector's comment).
    size = a["size"]
    data = bytes((k * 7 + 3) % 251 for k in range(size))
    check(sha256(data) == h(a["sha256"]), "attachments: file SHA-256")
    plain_chunk = 256 * 1024
    out = b""
    for i, cid in enumerate(a["chunks"]):
        vc = va["chunks"][i]
        part = data[i * plain_chunk:(i + 1) * plain_chunk]
        ct = nb.crypto_aead_xchacha20poly1305_ietf_encrypt(part, b"tunduk chunk v1",
                                                          chunk_nonce(i), key)
        check(len(ct) == vc["len"] and sha256(ct) == h(cid) == h(vc["id"]),
              "attachments: chunk %d re-encrypted has its id" % i)
        if "ciphertext" in vc:
            given = h(vc["ciphertext"])
            check(sha256(given) == h(cid), "attachments: chunk %d ciphertext hashes to id" % i)
            pt = nb.crypto_aead_xchacha20poly1305_ietf_decrypt(given, b"tunduk chunk v1",
                                                              chunk_nonce(i), key)
            check(pt == h(vc["plaintext"]) == part, "attachments: chunk %d decrypts" % i)
        out += part
    check(len(out) == size and sha256(out) == h(a["sha256"]), "attachments: whole file")


def check_revisions(d, devs, keys):
    j = load(d, "revisions.json")
    vkey = h(j["vault_key"])
    check(key_id(vkey) == h(j["key_id"]), "revisions: key id of the vault key")
    ids = set()
    bodies = {}
    for v in j["revisions"]:
        what = "revision '%s'" % v["what"]
        b = h(v["bytes"])
        try:
            rev = parse_revision(b)
        except ValueError as e:
            check(False, what + ": parses (%s)" % e)
            continue
        rid = sha256(b)
        check(rid == h(v["id"]), what + ": id = SHA-256(bytes)")
        check(ed25519_ok(rev["author_pk"], rev["signed"], rev["sig"]),
              what + ": signature over header || ciphertext")
        check(rev["sig"] == h(v["signature"]), what + ": signature is the vector's")
        check(sha256(rev["author_pk"]) == devs["alice"]["id"] == h(j["author"]),
              what + ": author is alice")
        hd = v["header"]
        check(rev["record_id"] == h(hd["record_id"]) and rev["hlc"] == hd["hlc"] and
              rev["generation"] == hd["generation"] and rev["type"] == hd["type"] and
              rev["vault"] == hd["vault"] and rev["salt"] == h(hd["salt"]) and
              rev["nonce"] == h(hd["nonce"]) and rev["key_id"] == h(hd["key_id"]) and
              [p.hex() for p in rev["parents"]] == hd["parents"] and
              [a.hex() for a in rev["attach"]] == hd["attach"] and
              len(rev["ciphertext"]) == hd["body_len"], what + ": header fields")
        check(rev["key_id"] in keys and keys[rev["key_id"]] == vkey,
              what + ": header names the vault key")
        for p in rev["parents"]:
            check(p in ids, what + ": parent is an earlier vector")
        ids.add(rid)
        try:
            bk, plain, enc, body = open_body(rev, vkey, bodies)
        except (ValueError, nacl.exceptions.CryptoError) as e:
            check(False, what + ": body opens (%s)" % e)
            continue
        check(bk == h(v["body_key"]), what + ": body key")
        check(plain == h(v["plaintext"]) and enc == v["encoding"], what + ": plaintext")
        check(body == v["body"].encode(), what + ": body JSON")
        bodies[rid] = (rev, body)
        bj = json.loads(body)
        if "tombstone" in v["what"]:
            check(bj == {"_deleted": True} and not rev["attach"], what + ": a tombstone")
        if "attachments" in v:
            check_attachments(v, bj, rev)
        # A flipped byte must break the tag (header and ciphertext are covered).
        bad = bytearray(b)
        bad[20] ^= 1
        try:
            open_body(parse_revision(bytes(bad)), vkey)
            check(False, what + ": a flipped author_pk byte still opens")
        except (ValueError, nacl.exceptions.CryptoError):
            pass


# ---- sections 9 and 9a: protobuf bodies, the membership log, grants -----------------------


def pb_decode(b):
    """Protocol-buffer wire format, the two wire types these messages use: varint (0) and
    length-delimited (2). Returns {field number: [values]}."""
    out, off = {}, 0

    def varint():
        nonlocal off
        v, shift = 0, 0
        while True:
            if off >= len(b) or shift > 63:
                raise ValueError("varint cut short")
            c = b[off]
            off += 1
            v |= (c & 0x7F) << shift
            shift += 7
            if not c & 0x80:
                return v

    while off < len(b):
        key = varint()
        num, wt = key >> 3, key & 7
        if wt == 0:
            val = varint()
        elif wt == 2:
            n = varint()
            if off + n > len(b):
                raise ValueError("field %d cut short" % num)
            val = b[off:off + n]
            off += n
        else:
            raise ValueError("wire type %d" % wt)
        out.setdefault(num, []).append(val)
    return out


def pb1(m, num, default):
    return m.get(num, [default])[-1]


# proto/tunduk.proto: VaultEntryBody field numbers and EntryOp values.
GENESIS, ADD, REMOVE, ROTATE = 1, 2, 3, 4


def entry_fields(body):
    m = pb_decode(body)
    return {
        "vault_id": pb1(m, 1, b""), "label": pb1(m, 2, b"").decode(), "seq": pb1(m, 3, 0),
        "prev": pb1(m, 4, b""), "op": pb1(m, 5, 0), "member": pb1(m, 6, b""),
        "member_pk": pb1(m, 7, b""), "writer": bool(pb1(m, 8, 0)), "key_id": pb1(m, 9, b""),
        "author_pk": pb1(m, 10, b""), "created_ms": pb1(m, 11, 0),
    }


def check_membership(d, devs, keys):
    j = load(d, "membership.json")
    members = {}  # device id -> writer
    epochs = []   # key ids in order
    ids = []
    vault_id = None
    for i, e in enumerate(j["entries"]):
        what = "entry %d (%s)" % (i, e["what"])
        body, sig = h(e["body"]), h(e["sig"])
        check(len(body) <= 1024, what + ": at most 1,024 bytes")
        f = entry_fields(body)
        # GAP 9a: the entry table gives no lengths and has no rows for author_pk and
        # created_ms; the 32- and 8-byte lengths are the .proto's comments.
        check(len(f["author_pk"]) == 32 and
              (f["op"] not in (GENESIS, ROTATE) or len(f["key_id"]) == 8) and
              (f["op"] not in (GENESIS, ADD) or len(f["member_pk"]) == 32) and
              (i == 0 or len(f["vault_id"]) == len(f["prev"]) == 32), what + ": lengths")
        eid = sha256(body)
        check(eid == h(e["id"]), what + ": id = SHA-256(body)")
        # 9a: sig = Ed25519 by author_pk over "tunduk vault entry v1" || body.
        check(ed25519_ok(f["author_pk"], b"tunduk vault entry v1" + body, sig),
              what + ": signature")
        author = sha256(f["author_pk"])
        check(f["seq"] == i == e["seq"] and f["label"] == j["label"] and
              f["created_ms"] == e["created_ms"], what + ": seq, label, created_ms")
        if i == 0:
            check(f["op"] == GENESIS and f["vault_id"] == b"" and f["prev"] == b"",
                  what + ": genesis has no vault_id, no prev")
            check(f["member"] == author and sha256(f["member_pk"]) == author and f["writer"],
                  what + ": genesis member is its author, a writer")
            vault_id = eid
            members[author] = True
            epochs.append(f["key_id"])
        else:
            check(f["vault_id"] == vault_id and f["prev"] == ids[-1],
                  what + ": vault_id is the genesis's, prev the previous entry's")
            check(members.get(author) is True, what + ": author is a writer")
            if f["op"] == ADD:
                check(f["member"] not in members and sha256(f["member_pk"]) == f["member"],
                      what + ": adds a new member whose key hashes to its id")
                members[f["member"]] = f["writer"]
            elif f["op"] == ROTATE:
                check(len(f["key_id"]) == 8 and f["key_id"] not in epochs,
                      what + ": a key id not used before")
                epochs.append(f["key_id"])
            elif f["op"] == REMOVE:
                members.pop(f["member"], None)
            else:
                check(False, what + ": known op")
        ids.append(eid)
    check(vault_id == h(j["vault_id"]), "membership: vault id = genesis id")
    check(members == {devs["alice"]["id"]: True, devs["bob"]["id"]: False},
          "membership: alice writes, bob reads")
    check(epochs == list(keys), "membership: epochs are vault_keys.json's keys, in order")
    return ids, epochs


def check_grants(d, devs, keys, entry_ids, epochs):
    # 9: GrantBody{vault=1, key_id=2, recipient=3, sealed_key=4, granter_pk=5,
    # created_ms=6, entry=7}, signed over "tunduk grant v1" || body.
    for g in load(d, "grants.json")["grants"]:
        what = "grant '%s'" % g["what"]
        body, sig = h(g["body"]), h(g["sig"])
        m = pb_decode(body)
        granter_pk = pb1(m, 5, b"")
        # 9.1: every field present at its length.
        check(len(body) <= 4096 and 1 <= len(pb1(m, 1, b"")) <= 64 and
              len(pb1(m, 2, b"")) == 8 and len(pb1(m, 3, b"")) == 32 and
              len(pb1(m, 4, b"")) == 80 and len(granter_pk) == 32 and
              len(pb1(m, 7, b"")) == 32, what + ": 9.1's lengths")
        check(ed25519_ok(granter_pk, b"tunduk grant v1" + body, sig), what + ": signature")
        # 9.1: the id a Rejected names.
        check(sha256(body) == h(g["id"]), what + ": id = SHA-256(body)")
        recip = devs[g["recipient_name"]]
        check(pb1(m, 3, b"") == recip["id"], what + ": recipient")
        check(pb1(m, 1, b"").decode() == "cases", what + ": vault")
        check(sha256(granter_pk) == devs["alice"]["id"], what + ": granter is alice")
        entry = pb1(m, 7, b"")
        check(entry in entry_ids, what + ": its entry is in the log")
        kid = pb1(m, 2, b"")
        # An epoch that began at or before its entry.
        check(kid in epochs and epochs.index(kid) <= entry_ids.index(entry),
              what + ": key of an epoch begun at or before its entry")
        try:
            key = nb.crypto_box_seal_open(pb1(m, 4, b""), recip["kx_pk"], recip["kx_sk"])
        except nacl.exceptions.CryptoError:
            check(False, what + ": sealed key opens")
            continue
        check(key_id(key) == kid, what + ": opened key hashes to key_id")
        check(key == h(g["vault_key"]) == keys.get(kid), what + ": opened key is the vector's")
        f = g["fields"]
        check(pb1(m, 6, 0) == f["created_ms"] and pb1(m, 4, b"") == h(f["sealed_key"]),
              what + ": fields")


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "proto", "vectors")
    devs = check_identities(d)
    check_token(d, devs)
    keys = check_vault_keys(d)
    check_revisions(d, devs, keys)
    entry_ids, epochs = check_membership(d, devs, keys)
    check_grants(d, devs, keys, entry_ids, epochs)
    if FAILS:
        print("%d of %d checks failed" % (len(FAILS), CHECKS[0]), file=sys.stderr)
        return 1
    print("vectors: %d checks passed (%s)" % (CHECKS[0], d))
    return 0


if __name__ == "__main__":
    sys.exit(main())
