-- csv.lua: the "csv" export, a spreadsheet of records (RFC 4180: comma
-- separated, fields with commas, quotes or line breaks in double quotes, a
-- quote doubled, lines ending in CRLF).
--
-- The first line is the header; then one row per record. The columns are
-- id, type, vault, updated, then the columns of the first record's content
-- type (from `columns` below; a type not listed there gets the first
-- record's own fields in name order), then "other": every field of a record
-- that has no column of its own, as JSON. Export one type at a time
-- (`tunduk export --format csv --type case`) for the tidiest sheet.
--
-- Cells: text as is; numbers and true/false as written; null as empty; a
-- list of plain values joined with list_separator; anything else (a list of
-- hearings, an object) as JSON.

---------------------------------------------------------------------------
-- Options
---------------------------------------------------------------------------

local columns = {
  case = { "case_number", "client_alias", "title", "office", "region", "court",
           "proceeding", "article", "violations", "status", "opened", "closed",
           "lawyer", "hearings", "appeals", "testimonies", "notes" },
  appeal = { "addressee", "addressee_kind", "date_sent", "reference", "subject",
             "related_case", "reply_due", "reply_received", "outcome", "notes" },
  testimony = { "witness_alias", "consent", "consent_date", "title", "date", "place",
                "language", "interviewer", "narrative", "related_case", "sensitivity" },
}

local list_separator = "; "

-- Spreadsheet programs run a cell that starts with = + - or @ as a formula
-- (a record synced from elsewhere could carry "=HYPERLINK(...)"). true puts
-- a ' in front of such text cells so they stay text.
local formula_guard = true

---------------------------------------------------------------------------
-- Helpers
---------------------------------------------------------------------------

local function is_list(v)
  return type(v) == "table" and (tunduk.is_array(v) or (#v > 0 and next(v, #v) == nil))
end

-- Nested values (a hearing, a list of objects) go into one cell as JSON.
local to_json = tunduk.json

local function scalar(v)
  local t = type(v)
  if t == "string" then return v end
  if t == "number" then
    return math.type(v) == "integer" and string.format("%d", v) or string.format("%.17g", v)
  end
  if t == "boolean" then return tostring(v) end
  return nil
end

-- The text of one cell.
local function cell(v)
  if v == nil or v == tunduk.null then return "" end
  local s = scalar(v)
  if s then
    if formula_guard and type(v) == "string" and s:match("^[=+%-@\t\r]") then s = "'" .. s end
    return s
  end
  if is_list(v) then
    local parts = {}
    for i, x in ipairs(v) do
      parts[i] = scalar(x)
      if not parts[i] then return to_json(v) end
    end
    return table.concat(parts, list_separator)
  end
  return to_json(v)
end

-- RFC 4180 quoting.
local function field(s)
  if s:find('[,"\r\n]') then return '"' .. s:gsub('"', '""') .. '"' end
  return s
end

local function row(cells)
  local q = {}
  for i, s in ipairs(cells) do q[i] = field(s) end
  return table.concat(q, ",") .. "\r\n"
end

local function sorted_keys(r)
  local keys = {}
  for k in pairs(r) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

local function updated(m)
  if m and m.hlc then return os.date("!%Y-%m-%dT%H:%M:%SZ", m.hlc // 1000) end
  return ""
end

---------------------------------------------------------------------------
-- The export
---------------------------------------------------------------------------

tunduk.export {
  name = "csv",
  media_type = "text/csv",

  write = function(records, out)
    local cols        -- the content-type columns, fixed by the first record
    local has_col = {}
    for r, m in records do
      if not cols then
        cols = (m and columns[m.type]) or sorted_keys(r)
        for _, c in ipairs(cols) do has_col[c] = true end
        local header = { "id", "type", "vault", "updated" }
        for _, c in ipairs(cols) do header[#header + 1] = c end
        header[#header + 1] = "other"
        out(row(header))
      end
      local cells = { m and m.record_id or "", m and m.type or "", m and m.vault or "",
                      updated(m) }
      for _, c in ipairs(cols) do cells[#cells + 1] = cell(r[c]) end
      local other = {}
      for k, v in pairs(r) do
        if not has_col[k] then other[k] = v end
      end
      cells[#cells + 1] = next(other) and to_json(other) or ""
      out(row(cells))
    end
    if not cols then out(row({ "id", "type", "vault", "updated", "other" })) end
  end,
}
