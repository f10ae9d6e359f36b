-- html.lua: the "html" export, a printable report: each case with its
-- hearings, its appeals and its testimonies, one case per printed page;
-- records that belong to no exported case follow at the end.
--
-- An appeal or testimony belongs to a case when its related_case is the
-- case's id, or when the case lists it in "appeals" / "testimonies".
-- Export the records of one office's vault for a report of its cases:
--   tunduk export --format html --vault osh-cases -o report.html
--
-- Everything from a record is HTML-escaped. A testimony whose consent was
-- withdrawn arrives here without its narrative (tunduk removes it before any
-- export sees the record); the report says so instead.

---------------------------------------------------------------------------
-- Options
---------------------------------------------------------------------------

local report_title = "Case report / Отчёт по делам / Иштер боюнча отчёт"

-- Labels shown in the report, per field (a field not listed shows its name).
local labels = {
  case_number = "Case number / Номер дела", client_alias = "Client alias / Псевдоним",
  title = "Description / Описание", office = "Office / Офис", region = "Region / Область",
  court = "Court / Суд", proceeding = "Proceeding / Производство",
  article = "Article / Статья", violations = "Violations / Нарушения",
  status = "Status / Статус", opened = "Opened / Открыто", closed = "Closed / Закрыто",
  lawyer = "Lawyer / Адвокат", notes = "Notes / Заметки",
  addressee = "Addressee / Адресат", date_sent = "Sent / Отправлено",
  subject = "Subject / Предмет", reply_due = "Reply due / Срок ответа",
  reply_received = "Reply received / Ответ получен", outcome = "Outcome / Результат",
  witness_alias = "Witness / Свидетель", consent = "Consent / Согласие",
  date = "Date / Дата", place = "Place / Место", language = "Language / Язык",
  sensitivity = "Sensitivity / Чувствительность", narrative = "Narrative / Рассказ",
}

-- Case fields shown in the case's table, in this order (the rest follow).
local case_fields = { "case_number", "client_alias", "title", "office", "region", "court",
                      "proceeding", "article", "violations", "status", "opened", "closed",
                      "lawyer", "notes" }

local style = [[
body { font-family: "DejaVu Sans", Arial, sans-serif; font-size: 11pt; margin: 2em; }
h1 { font-size: 16pt; } h2 { font-size: 14pt; margin-top: 1.5em; } h3 { font-size: 12pt; }
table { border-collapse: collapse; width: 100%; margin: 0.5em 0; }
th, td { border: 1px solid #999; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #eee; width: 28%; }
.withheld { font-style: italic; color: #900; }
.narrative { white-space: pre-wrap; }
section.case { page-break-after: always; }
@media print { body { margin: 0; } }
]]

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

-- A value as escaped text: lists joined, objects as "key: value" pairs.
local function text(v)
  if not present(v) then return "" end
  if type(v) ~= "table" then return esc(v) end
  local parts = {}
  if tunduk.is_array(v) or #v > 0 then
    for i, x in ipairs(v) do parts[i] = text(x) end
    return table.concat(parts, ", ")
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do parts[#parts + 1] = esc(k) .. ": " .. text(v[k]) end
  return table.concat(parts, "; ")
end

local function label(k)
  return esc(labels[k] or k)
end

-- A two-column table of fields: first those in `order`, then the rest by name.
local function field_table(r, order, skip)
  local rows, done = { "<table>" }, {}
  local function add(k)
    if done[k] or (skip and skip[k]) then return end
    done[k] = true
    if present(r[k]) then
      rows[#rows + 1] = "<tr><th>" .. label(k) .. "</th><td>" .. text(r[k]) .. "</td></tr>"
    end
  end
  for _, k in ipairs(order or {}) do add(k) end
  local keys = {}
  for k in pairs(r) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do add(k) end
  rows[#rows + 1] = "</table>"
  return table.concat(rows, "\n")
end

local function hearings_table(list)
  if type(list) ~= "table" or #list == 0 then return "" end
  local rows = { "<h3>Hearings / Судебные заседания</h3>",
                 "<table><tr><th>Date / Дата</th><th>Court / Суд</th>" ..
                 "<th>Outcome / Результат</th></tr>" }
  for _, h in ipairs(list) do
    if type(h) == "table" then
      rows[#rows + 1] = "<tr><td>" .. text(h.date) .. "</td><td>" .. text(h.court) ..
        "</td><td>" .. text(h.outcome) .. "</td></tr>"
    end
  end
  rows[#rows + 1] = "</table>"
  return table.concat(rows, "\n")
end

local function appeal_html(r)
  return "<h3>Appeal / Обращение: " .. text(r.addressee) .. "</h3>\n" ..
    field_table(r, { "addressee", "date_sent", "subject", "reply_due", "reply_received",
                     "outcome" }, { related_case = true })
end

local function testimony_html(r)
  local parts = { "<h3>Testimony / Показание: " .. text(r.witness_alias) .. "</h3>",
                  field_table(r, { "witness_alias", "consent", "date", "place", "language",
                                   "sensitivity" },
                              { related_case = true, narrative = true }) }
  if r.consent == "withdrawn" then
    parts[#parts + 1] = '<p class="withheld">Narrative withheld: consent withdrawn / ' ..
      "Рассказ не включён: согласие отозвано</p>"
  elseif present(r.narrative) then
    parts[#parts + 1] = '<p class="narrative">' .. text(r.narrative) .. "</p>"
  end
  return table.concat(parts, "\n")
end

---------------------------------------------------------------------------
-- The export
---------------------------------------------------------------------------

tunduk.export {
  name = "html",
  media_type = "text/html",

  -- Each record is turned into HTML as it arrives; only the fragments are
  -- kept until the end, when they are put together case by case.
  write = function(records, out)
    local cases = {}        -- { id, html, appeals = {ids}, testimonies = {ids} } in order
    local frag = {}         -- record id -> html of an appeal or testimony
    local owner = {}        -- record id -> related_case
    local kind_of = {}      -- record id -> content type
    local order = {}        -- ids of appeals, testimonies and other records, in order
    local n = 0
    for r, m in records do
      n = n + 1
      local id = m and m.record_id or ("record-" .. n)
      local kind = m and m.type or "?"
      if kind == "case" then
        cases[#cases + 1] = {
          id = id,
          html = '<section class="case">\n<h2>Case / Дело ' .. text(r.case_number) ..
            " — " .. text(r.client_alias) .. "</h2>\n" ..
            field_table(r, case_fields, { hearings = true, appeals = true,
                                          testimonies = true }) .. "\n" ..
            hearings_table(r.hearings),
          appeals = r.appeals or {}, testimonies = r.testimonies or {},
        }
      else
        if kind == "appeal" then
          frag[id] = appeal_html(r)
        elseif kind == "testimony" then
          frag[id] = testimony_html(r)
        else
          frag[id] = "<h3>" .. esc(kind) .. " " .. esc(id) .. "</h3>\n" .. field_table(r)
        end
        owner[id] = type(r.related_case) == "string" and r.related_case or nil
        kind_of[id] = kind
        order[#order + 1] = id
      end
    end

    out("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\n<title>",
        esc(report_title), "</title>\n<style>", style, "</style></head>\n<body>\n<h1>",
        esc(report_title), "</h1>\n<p>", n, " records, ", #cases, " cases. Generated ",
        os.date("!%Y-%m-%d %H:%M UTC"), ". Confidential.</p>\n")
    local used = {}
    for _, c in ipairs(cases) do
      out(c.html, "\n")
      local listed = {}
      for _, id in ipairs(c.appeals) do listed[id] = true end
      for _, id in ipairs(c.testimonies) do listed[id] = true end
      -- Its appeals first, then its testimonies, then anything else.
      for pass = 1, 3 do
        for _, id in ipairs(order) do
          local k = kind_of[id]
          local in_pass = (pass == 1 and k == "appeal") or (pass == 2 and k == "testimony")
            or (pass == 3 and k ~= "appeal" and k ~= "testimony")
          if in_pass and not used[id] and (owner[id] == c.id or listed[id]) then
            used[id] = true
            out(frag[id], "\n")
          end
        end
      end
      out("</section>\n")
    end
    local rest = false
    for _, id in ipairs(order) do
      if not used[id] then
        if not rest then
          out("<section>\n<h2>Other records / Прочие записи</h2>\n")
          rest = true
        end
        out(frag[id], "\n")
      end
    end
    if rest then out("</section>\n") end
    out("</body></html>\n")
  end,
}
