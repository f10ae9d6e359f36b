-- jsonl.lua: the "jsonl" export, one JSON object per line (JSON Lines), for
-- moving records into other tools or archives.
--
-- Each line is {"id": ..., "type": ..., "vault": ..., "revision": ...,
-- "updated": ..., "record": {...}} with the record's fields in "record".
-- Keys are sorted, so the same records always export to the same bytes.
-- Redacted fields (--redact) and the narrative of a testimony whose consent
-- was withdrawn never reach this plugin.

---------------------------------------------------------------------------
-- Options
---------------------------------------------------------------------------

-- false: each line is just the record's fields, without the envelope.
local include_meta = true

-- The time of the revision being exported, as RFC 3339 UTC.
local function updated(m)
  if m and m.hlc then return os.date("!%Y-%m-%dT%H:%M:%SZ", m.hlc // 1000) end
  return tunduk.null
end

---------------------------------------------------------------------------
-- The export
---------------------------------------------------------------------------

tunduk.export {
  name = "jsonl",
  media_type = "application/x-ndjson",

  write = function(records, out)
    for r, m in records do
      local line = r
      if include_meta then
        line = { id = m and m.record_id or tunduk.null, type = m and m.type or tunduk.null,
                 vault = m and m.vault or tunduk.null,
                 revision = m and m.revision_id or tunduk.null,
                 updated = updated(m), record = r }
      end
      out(tunduk.json(line), "\n")
    end
  end,
}
