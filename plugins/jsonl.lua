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

---------------------------------------------------------------------------
-- A small JSON encoder (records arrive as plain tables: objects, arrays
-- marked by tunduk.is_array, tunduk.null for null)
---------------------------------------------------------------------------

local escapes = { ['"'] = '\\"', ['\\'] = '\\\\', ['\n'] = '\\n', ['\r'] = '\\r',
                  ['\t'] = '\\t', ['\b'] = '\\b', ['\f'] = '\\f' }

local function quote(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return escapes[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function encode(v, buf)
  local t = type(v)
  if v == tunduk.null or v == nil then
    buf[#buf + 1] = "null"
  elseif t == "string" then
    buf[#buf + 1] = quote(v)
  elseif t == "number" then
    buf[#buf + 1] = math.type(v) == "integer" and string.format("%d", v)
      or string.format("%.17g", v)
  elseif t == "boolean" then
    buf[#buf + 1] = tostring(v)
  elseif t == "table" and (tunduk.is_array(v) or (#v > 0 and next(v, #v) == nil)) then
    buf[#buf + 1] = "["
    for i, x in ipairs(v) do
      if i > 1 then buf[#buf + 1] = "," end
      encode(x, buf)
    end
    buf[#buf + 1] = "]"
  elseif t == "table" then
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = tostring(k) end
    table.sort(keys)
    buf[#buf + 1] = "{"
    for i, k in ipairs(keys) do
      if i > 1 then buf[#buf + 1] = "," end
      buf[#buf + 1] = quote(k)
      buf[#buf + 1] = ":"
      encode(v[k], buf)
    end
    buf[#buf + 1] = "}"
  else
    error("cannot write a " .. t .. " as JSON")
  end
end

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
      local buf = {}
      encode(line, buf)
      buf[#buf + 1] = "\n"
      out(table.concat(buf))
    end
  end,
}
