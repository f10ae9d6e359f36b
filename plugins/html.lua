-- html.lua: the "html" export, a printable case report: the organisation's
-- name, each case with its fields, its hearings, its appeals (an overdue one
-- flagged) and its testimonies, each record's attachments by name and size;
-- one case per printed page, numbered, marked confidential. Records that
-- belong to no exported case follow at the end.
--
--   tunduk export --format html --record CASE_ID --lang ru --tz +06:00 -o report.html
--
-- An appeal or testimony belongs to a case when its related_case is the
-- case's id, or when the case lists it in "appeals" / "testimonies".
-- Labels of fields and of enum values come from the content types, in the
-- language tunduk asks for (info.lang); a value without a label is shown
-- with its underscores as spaces. Times are local: info.now shifted by
-- info.tz_offset_min, with the offset printed.
--
-- Everything from a record or a plugin's label is HTML-escaped. A testimony
-- whose consent was withdrawn arrives here without its narrative (tunduk
-- removes it in C before any export sees the record); the report says so.
-- The page has no script; its style is in one <style> element.

---------------------------------------------------------------------------
-- Options
---------------------------------------------------------------------------

-- The report's own words, per language (en is the fallback).
local words = {
  en = {
    title = "Case report", hearings = "Hearings", appeals = "Appeals",
    testimonies = "Testimonies", attachments = "Attachments", other = "Other records",
    overdue = "Overdue: no reply received by %s",
    withheld = "Narrative withheld: consent withdrawn",
    generated = "Generated %s (local time, UTC%s)", confidential = "Confidential",
    page = "Page", of = "of", record = "Record", summary = "%d records, %d cases",
    none = "No records.", units = { "B", "KB", "MB", "GB", "TB" },
    date = "Date", court = "Court", outcome = "Outcome",
    types = { case = "Case", appeal = "Appeal", testimony = "Testimony" },
  },
  ru = {
    title = "Отчёт по делу", hearings = "Судебные заседания", appeals = "Обращения",
    testimonies = "Показания", attachments = "Вложения", other = "Прочие записи",
    overdue = "Просрочено: ответ не получен к %s",
    withheld = "Рассказ не включён: свидетель отозвал согласие",
    generated = "Сформировано %s (местное время, UTC%s)", confidential = "Конфиденциально",
    page = "Страница", of = "из", record = "Запись", summary = "записей: %d, дел: %d",
    none = "Нет записей.", units = { "Б", "КБ", "МБ", "ГБ", "ТБ" },
    date = "Дата", court = "Суд", outcome = "Результат",
    types = { case = "Дело", appeal = "Обращение", testimony = "Показание" },
  },
  ky = {
    title = "Иш боюнча отчёт", hearings = "Сот отурумдары", appeals = "Кайрылуулар",
    testimonies = "Көрсөтмөлөр", attachments = "Тиркемелер", other = "Башка жазуулар",
    overdue = "Мөөнөтү өттү: %s чейин жооп келген жок",
    withheld = "Баяндама киргизилген жок: күбө макулдугун кайтарып алды",
    generated = "Түзүлгөн %s (жергиликтүү убакыт, UTC%s)", confidential = "Купуя",
    page = "Бет", of = "/", record = "Жазуу", summary = "жазуулар: %d, иштер: %d",
    none = "Жазуулар жок.", units = { "Б", "КБ", "МБ", "ГБ", "ТБ" },
    date = "Күнү", court = "Сот", outcome = "Жыйынтыгы",
    types = { case = "Иш", appeal = "Кайрылуу", testimony = "Көрсөтмө" },
  },
}

-- Fields shown first when a content type gives no order (the rest follow).
local default_order = {
  case = { "case_number", "client_alias", "title", "office", "region", "court",
           "proceeding", "article", "violations", "status", "opened", "closed", "lawyer",
           "notes" },
  appeal = { "addressee", "addressee_kind", "date_sent", "reference", "subject",
             "reply_due", "reply_received", "outcome", "notes" },
  testimony = { "witness_alias", "consent", "consent_date", "title", "date", "place",
                "language", "interviewer", "sensitivity" },
}

-- Fields never shown in a record's table: the report shows them otherwise
-- (the case's lists as sections, the link to the case by nesting).
local hidden = { related_case = true, appeals = true, testimonies = true, hearings = true,
                 narrative = true }

-- CSS strings must not break out of their quotes: only words from above go
-- there, never record text.
local function css_string(s)
  return '"' .. s:gsub('[\\"]', "\\%0"):gsub("[\r\n]", " ") .. '"'
end

local function style(w)
  return [[
@page { size: A4; margin: 18mm 16mm 20mm 16mm;
  @bottom-left { content: ]] .. css_string(w.confidential) .. [[; font-size: 8pt; color: #900; }
  @bottom-right { content: ]] .. css_string(w.page .. " ") .. [[ counter(page) ]] ..
    css_string(" " .. w.of .. " ") .. [[ counter(pages); font-size: 8pt; }
}
body { font-family: "DejaVu Sans", "Noto Sans", "Liberation Sans", Arial, sans-serif;
       font-size: 10.5pt; margin: 2em; color: #111; }
header .org { font-size: 13pt; font-weight: bold; margin: 0; }
h1 { font-size: 16pt; margin: 0.2em 0; } h2 { font-size: 14pt; margin-top: 1.2em; }
h3 { font-size: 12pt; margin: 1em 0 0.3em; } h4 { font-size: 10.5pt; margin: 0.6em 0 0.2em; }
.meta { color: #555; font-size: 9pt; }
table { border-collapse: collapse; width: 100%; margin: 0.4em 0; }
th, td { border: 1px solid #999; padding: 3px 6px; text-align: left; vertical-align: top; }
table.fields th { background: #eee; width: 30%; }
table.list th { background: #eee; }
.withheld { font-style: italic; color: #900; }
.narrative { white-space: pre-wrap; }
.overdue { border-left: 4px solid #b00; padding-left: 6px; }
.overdue-flag { color: #b00; font-weight: bold; }
footer.confidential { margin-top: 2em; color: #900; font-size: 9pt; }
section.case { break-after: page; }
section.case:last-of-type { break-after: auto; }
.record { break-inside: avoid; }
@media print { body { margin: 0; } footer.confidential { display: none; } }
]]
end

---------------------------------------------------------------------------
-- Helpers
---------------------------------------------------------------------------

local entities = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;",
                   ["'"] = "&#39;" }

local function esc(s)
  return (tostring(s):gsub("[&<>\"']", entities))
end

local function present(v)
  return v ~= nil and v ~= tunduk.null and v ~= ""
end

-- "in_court" -> "In court": a name or value no label was given for.
local function humane(s)
  s = tostring(s):gsub("_", " ")
  return (s:gsub("^%l", string.upper))
end

local function is_list(v)
  return type(v) == "table" and (tunduk.is_array(v) or #v > 0)
end

-- A schema node's label for name (a field, or a column of a list).
local function label_of(node, name)
  local f = node and node.fields and node.fields[name]
  return (f and type(f.label) == "string" and f.label ~= "") and f.label or humane(name)
end

-- The label of enum value v in node (a field or list items), else v humane.
local function value_label(node, v)
  local l = node and type(node.values) == "table" and node.values[v]
  return type(l) == "string" and l or humane(v)
end

local value_html

-- A list of objects as a table, its columns those of items (their order
-- first) or else of the objects themselves.
local function objects_table(list, items, w)
  local cols, seen = {}, {}
  local function col(k)
    if not seen[k] and type(k) == "string" and k:sub(1, 1) ~= "_" then
      seen[k] = true
      cols[#cols + 1] = k
    end
  end
  for _, k in ipairs(items and items.order or { "date", "court", "outcome" }) do col(k) end
  local rest = {}
  for _, o in ipairs(list) do
    if type(o) == "table" then for k in pairs(o) do rest[#rest + 1] = k end end
  end
  table.sort(rest)
  for _, k in ipairs(rest) do col(k) end
  local fallback = { date = w.date, court = w.court, outcome = w.outcome }
  local rows = { '<table class="list"><tr>' }
  for _, k in ipairs(cols) do
    local f = items and items.fields and items.fields[k]
    rows[#rows + 1] = "<th>" .. esc(f and f.label or fallback[k] or humane(k)) .. "</th>"
  end
  rows[#rows + 1] = "</tr>"
  for _, o in ipairs(list) do
    if type(o) == "table" then
      rows[#rows + 1] = "<tr>"
      for _, k in ipairs(cols) do
        rows[#rows + 1] = "<td>" .. value_html(o[k], items and items.fields and
                                                       items.fields[k], w) .. "</td>"
      end
      rows[#rows + 1] = "</tr>"
    end
  end
  rows[#rows + 1] = "</table>"
  return table.concat(rows)
end

-- A value as escaped HTML: enum values by their labels, lists joined (of
-- objects: a table), an object as "label: value" pairs.
value_html = function(v, node, w)
  if not present(v) then return "" end
  if type(v) ~= "table" then
    if node and node.kind == "enum" then return esc(value_label(node, v)) end
    if type(v) == "boolean" then return v and "✓" or "—" end
    return esc(v)
  end
  local items = node and node.items
  if is_list(v) then
    local objects = false
    for _, x in ipairs(v) do if type(x) == "table" and not is_list(x) then objects = true end end
    if objects then return objects_table(v, items, w) end
    local parts = {}
    for i, x in ipairs(v) do
      if items and items.kind == "enum" then
        parts[i] = esc(value_label(items, x))
      elseif node and node.values and items == nil then
        parts[i] = esc(value_label(node, x))
      else
        parts[i] = value_html(x, items, w)
      end
    end
    return table.concat(parts, ", ")
  end
  local keys, parts = {}, {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    parts[#parts + 1] = esc(label_of(node, k)) .. ": " ..
      value_html(v[k], node and node.fields and node.fields[k], w)
  end
  return table.concat(parts, "; ")
end

-- A two-column table of a record's fields in the type's order, then the
-- rest by name; hidden fields and "_" fields left out.
local function field_table(r, tnode, kind, w)
  local rows, done = { '<table class="fields">' }, {}
  local function add(k)
    if done[k] or hidden[k] or type(k) ~= "string" or k:sub(1, 1) == "_" then return end
    done[k] = true
    if present(r[k]) then
      rows[#rows + 1] = "<tr><th>" .. esc(label_of(tnode, k)) .. "</th><td>" ..
        value_html(r[k], tnode and tnode.fields and tnode.fields[k], w) .. "</td></tr>"
    end
  end
  for _, k in ipairs(default_order[kind] or {}) do add(k) end
  for _, k in ipairs(tnode and tnode.order or {}) do add(k) end
  local keys = {}
  for k in pairs(r) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do add(k) end
  if #rows == 1 then return "" end
  rows[#rows + 1] = "</table>"
  return table.concat(rows, "\n")
end

-- 1536 -> "1.5 KB" (units of 1024).
local function size_text(n, w)
  n = tonumber(n)
  if not n then return "" end
  local u = 1
  while n >= 1024 and u < #w.units do
    n = n / 1024
    u = u + 1
  end
  if u == 1 then return string.format("%d %s", math.floor(n), w.units[1]) end
  return string.format("%.1f %s", n, w.units[u])
end

local function attachments_html(list, w)
  if type(list) ~= "table" or #list == 0 then return "" end
  local rows = { "<h4>" .. esc(w.attachments) .. "</h4>", '<ul class="attachments">' }
  for _, a in ipairs(list) do
    if type(a) == "table" and present(a.name) then
      rows[#rows + 1] = "<li>" .. esc(a.name) .. " (" .. esc(size_text(a.size, w)) .. ")</li>"
    end
  end
  rows[#rows + 1] = "</ul>"
  return table.concat(rows, "\n")
end

-- "+06:00" for 360.
local function offset_text(min)
  local sign = min < 0 and "-" or "+"
  min = math.abs(min)
  return string.format("%s%02d:%02d", sign, min // 60, min % 60)
end

local function is_date(s)
  return type(s) == "string" and s:match("^%d%d%d%d%-%d%d%-%d%d") ~= nil
end

---------------------------------------------------------------------------
-- The export
---------------------------------------------------------------------------

tunduk.export {
  name = "html",
  media_type = "text/html",

  -- Each record becomes HTML as it arrives; the fragments are put together
  -- case by case at the end.
  write = function(records, out, info)
    info = type(info) == "table" and info or {}
    local w = words[info.lang] or words.en
    local types = type(info.types) == "table" and info.types or {}
    local tz = math.tointeger(info.tz_offset_min) or 0
    local now = math.tointeger(info.now) or os.time()
    local local_now = now + tz * 60
    local today = os.date("!%Y-%m-%d", local_now)

    -- A content type's name in the report: its label in lang, else ours.
    local function type_label(kind)
      local l = types[kind] and types[kind].label
      if type(l) ~= "string" or l == "" or l == kind then l = w.types[kind] or humane(kind) end
      return l
    end

    local function record_html(kind, r, m, id)
      local tnode = types[kind]
      local cls, head, extra = "record " .. kind, "", {}
      if kind == "appeal" then
        head = present(r.addressee) and (": " .. esc(r.addressee)) or ""
        if is_date(r.reply_due) and r.reply_due:sub(1, 10) < today and
          not present(r.reply_received) then
          cls = cls .. " overdue"
          extra[#extra + 1] = '<p class="overdue-flag">' ..
            esc(string.format(w.overdue, r.reply_due)) .. "</p>"
        end
      elseif kind == "testimony" then
        head = present(r.witness_alias) and (": " .. esc(r.witness_alias)) or ""
      end
      local parts = { '<div class="' .. esc(cls) .. '">',
                      "<h4>" .. esc(type_label(kind)) .. head ..
                        ' <span class="meta">' .. esc(w.record) .. " " ..
                        esc(id:sub(1, 8)) .. "</span></h4>" }
      for _, e in ipairs(extra) do parts[#parts + 1] = e end
      parts[#parts + 1] = field_table(r, tnode, kind, w)
      if kind == "testimony" or r.consent ~= nil then
        if r.consent == "withdrawn" then
          parts[#parts + 1] = '<p class="withheld">' .. esc(w.withheld) .. "</p>"
        elseif present(r.narrative) then
          local f = tnode and tnode.fields and tnode.fields.narrative
          parts[#parts + 1] = "<h4>" .. esc(f and f.label or humane("narrative")) ..
            '</h4><p class="narrative">' .. esc(r.narrative) .. "</p>"
        end
      end
      parts[#parts + 1] = attachments_html(m and m.attachments or r._attachments, w)
      parts[#parts + 1] = "</div>"
      return table.concat(parts, "\n")
    end

    local cases = {}        -- { id, html, listed = {id = true} } in order
    local frag, owner, kind_of, order = {}, {}, {}, {}
    local n = 0
    for r, m in records do
      n = n + 1
      local id = m and m.record_id or ("record-" .. n)
      local kind = m and m.type or "?"
      if kind == "case" then
        local tnode = types.case
        local listed = {}
        for _, l in ipairs({ "appeals", "testimonies" }) do
          for _, x in ipairs(type(r[l]) == "table" and r[l] or {}) do
            if type(x) == "string" then listed[x:lower()] = true end
          end
        end
        local hnode = tnode and tnode.fields and tnode.fields.hearings
        local hearings = ""
        if is_list(r.hearings) and #r.hearings > 0 then
          local list = {}
          for i, h in ipairs(r.hearings) do list[i] = h end
          table.sort(list, function(a, b)
            return tostring(type(a) == "table" and a.date or "") <
              tostring(type(b) == "table" and b.date or "")
          end)
          hearings = "<h3>" .. esc(w.hearings) .. "</h3>\n" ..
            value_html(list, hnode, w)
        end
        cases[#cases + 1] = {
          id = id:lower(), listed = listed,
          html = '<section class="case">\n<h2>' .. esc(type_label("case")) ..
            " " .. esc(present(r.case_number) and r.case_number or "") ..
            (present(r.client_alias) and (" — " .. esc(r.client_alias)) or "") ..
            ' <span class="meta">' .. esc(w.record) .. " " .. esc(id:sub(1, 8)) ..
            "</span></h2>\n" .. field_table(r, tnode, "case", w) .. "\n" ..
            attachments_html(m and m.attachments or r._attachments, w) .. "\n" .. hearings,
        }
      else
        frag[id] = record_html(kind, r, m, id)
        owner[id] = type(r.related_case) == "string" and r.related_case:lower() or nil
        kind_of[id] = kind
        order[#order + 1] = id
      end
    end

    local org = type(info.organisation) == "string" and info.organisation ~= "" and
      info.organisation or nil
    local title = (org and (org .. " — ") or "") .. w.title
    out("<!DOCTYPE html>\n<html lang=\"", esc(words[info.lang] and info.lang or "en"),
        "\"><head><meta charset=\"utf-8\">\n<title>", esc(title), "</title>\n<style>",
        style(w), "</style></head>\n<body>\n<header>\n")
    if org then out('<p class="org">', esc(org), "</p>\n") end
    out("<h1>", esc(w.title), "</h1>\n<p class=\"meta\">",
        esc(string.format(w.summary, n, #cases)), " · ",
        esc(string.format(w.generated, os.date("!%Y-%m-%d %H:%M", local_now),
                          offset_text(tz))),
        " · ", esc(w.confidential), "</p>\n</header>\n")
    if n == 0 then out("<p>", esc(w.none), "</p>\n") end
    local used = {}
    for _, c in ipairs(cases) do
      out(c.html, "\n")
      local function section(kind, heading)
        local first = true
        for _, id in ipairs(order) do
          local k = kind_of[id]
          local in_kind = (kind == k) or
            (kind == "*" and k ~= "appeal" and k ~= "testimony")
          if in_kind and not used[id] and (owner[id] == c.id or c.listed[id:lower()]) then
            if first and heading then out("<h3>", esc(heading), "</h3>\n") end
            first = false
            used[id] = true
            out(frag[id], "\n")
          end
        end
      end
      section("appeal", w.appeals)
      section("testimony", w.testimonies)
      section("*", nil)
      out("</section>\n")
    end
    local rest = false
    for _, id in ipairs(order) do
      if not used[id] then
        if not rest then
          out("<section>\n<h2>", esc(w.other), "</h2>\n")
          rest = true
        end
        out(frag[id], "\n")
      end
    end
    if rest then out("</section>\n") end
    out('<footer class="confidential">', esc(w.confidential), "</footer>\n</body></html>\n")
  end,
}
