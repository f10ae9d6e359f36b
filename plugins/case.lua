-- case.lua: the "case" content type, a legal case the movement works on
-- (дело / иш): a torture complaint, an arbitrary detention, an unfair trial.
--
-- A case names its client only by an alias ("Client A-7"): the real name of
-- a victim never goes into tunduk. Fields a real name would go into are
-- refused (see forbidden_fields below).
--
-- Read this file top to bottom like a form: the options, the fields, then
-- the checks the host cannot express on its own (validate), the one-line
-- listing (summary) and the automatic merge of two concurrent edits.

---------------------------------------------------------------------------
-- Options
---------------------------------------------------------------------------

-- Kinds of violation a case may record (the "violations" list).
local violation_kinds = {
  "torture",                 -- пытки / кыйноо
  "ill_treatment",           -- жестокое обращение / ырайымсыз мамиле
  "arbitrary_detention",     -- произвольное задержание / негизсиз кармоо
  "fair_trial",              -- право на справедливый суд / адилеттүү сот
  "death_in_custody",        -- смерть под стражей / камактагы өлүм
  "enforced_disappearance",  -- насильственное исчезновение
  "freedom_of_expression",   -- свобода выражения
  "freedom_of_assembly",     -- свобода собраний
  "discrimination",          -- дискриминация / басмырлоо
  "property",                -- право собственности
  "other",
}

-- Fields that would hold a person's real identity: refused outright.
local forbidden_fields = {
  "client_name", "client_full_name", "real_name", "full_name",
  "passport", "passport_number", "personal_number",
}

---------------------------------------------------------------------------
-- Helpers (plain Lua; nothing here touches the outside world)
---------------------------------------------------------------------------

local function set_of(list)
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end

local violation_set = set_of(violation_kinds)

local function present(v)
  return v ~= nil and v ~= tunduk.null and v ~= ""
end

-- "YYYY-MM-DD" naming a real calendar day.
local function is_date(s)
  if type(s) ~= "string" then return false end
  local y, m, d = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)$")
  if not y then return false end
  y, m, d = tonumber(y), tonumber(m), tonumber(d)
  local mdays = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }
  if (y % 4 == 0 and y % 100 ~= 0) or y % 400 == 0 then mdays[2] = 29 end
  return y >= 1 and m >= 1 and m <= 12 and d >= 1 and d <= mdays[m]
end

local function is_id(s)
  return type(s) == "string" and #s == 32 and s:match("^%x+$") ~= nil
end

-- Deep equality of two record values (tables compared field by field).
local function same(a, b)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  for k, v in pairs(a) do if not same(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

---------------------------------------------------------------------------
-- The content type
---------------------------------------------------------------------------

tunduk.content_type {
  name = "case",
  label = "Case / Дело / Иш",

  fields = {
    case_number  = { kind = "text", label = "Case number / Номер дела / Иштин номери" },
    client_alias = { kind = "text", label = "Client alias (never the real name) / Псевдоним клиента" },
    title        = { kind = "text", label = "Short description / Краткое описание" },
    office       = { kind = "text", label = "Office / Офис / Кеңсе" },
    region       = { kind = "text", label = "Region / Область / Облус" },
    court        = { kind = "text", label = "Court / Суд / Сот" },
    proceeding   = { kind = "enum", label = "Proceeding / Производство",
                     values = { "criminal", "administrative", "civil" } },
    article      = { kind = "text", label = "Article (criminal or administrative code) / Статья / Берене" },
    violations   = { kind = "list", label = "Violations / Нарушения / Бузуулар" },
    status       = { kind = "enum", label = "Status / Статус / Абалы",
                     values = { "intake", "open", "investigation", "in_court",
                                "appeal_filed", "international", "closed",
                                "archived" } },
    opened       = { kind = "date", label = "Opened / Открыто / Ачылган" },
    closed       = { kind = "date", label = "Closed / Закрыто / Жабылган" },
    hearings     = { kind = "list", label = "Hearings (date, court, outcome) / Заседания / Сот отурумдары" },
    lawyer       = { kind = "text", label = "Lawyer / Адвокат / Жактоочу" },
    appeals      = { kind = "list", label = "Related appeals / Обращения / Кайрылуулар" },
    testimonies  = { kind = "list", label = "Related testimonies / Показания / Көрсөтмөлөр" },
    notes        = { kind = "text", label = "Notes / Заметки" },
  },

  required = { "case_number", "client_alias", "status" },

  -- The host has already checked the fields above (required ones present,
  -- enum values, dates, lists). This checks what lies inside the lists and
  -- between fields. Return true, or nil and a reason naming the field.
  validate = function(r)
    for _, f in ipairs(forbidden_fields) do
      if r[f] ~= nil then
        return nil, "field '" .. f .. "' is not allowed: record the client_alias, never the real name"
      end
    end
    for i, v in ipairs(r.violations or {}) do
      if not violation_set[v] then
        return nil, "field 'violations' item " .. i .. " ('" .. tostring(v) ..
          "') must be one of: " .. table.concat(violation_kinds, ", ")
      end
    end
    for i, h in ipairs(r.hearings or {}) do
      if type(h) ~= "table" or tunduk.is_array(h) then
        return nil, "field 'hearings' item " .. i .. " must be an object {date, court, outcome}"
      end
      if not is_date(h.date) then
        return nil, "field 'hearings' item " .. i .. ": 'date' must be a date YYYY-MM-DD"
      end
      for _, k in ipairs({ "court", "outcome" }) do
        if h[k] ~= nil and h[k] ~= tunduk.null and type(h[k]) ~= "string" then
          return nil, "field 'hearings' item " .. i .. ": '" .. k .. "' must be text"
        end
      end
    end
    for _, list in ipairs({ "appeals", "testimonies" }) do
      for i, id in ipairs(r[list] or {}) do
        if not is_id(id) then
          return nil, "field '" .. list .. "' item " .. i .. " must be a record id (32 hex digits)"
        end
      end
    end
    if present(r.opened) and present(r.closed) and r.closed < r.opened then
      return nil, "field 'closed' (" .. r.closed .. ") is before 'opened' (" .. r.opened .. ")"
    end
    return true
  end,

  -- One line for `tunduk list`.
  summary = function(r)
    local parts = { r.case_number, r.client_alias, r.status }
    if present(r.title) then
      parts[#parts + 1] = r.title
    elseif r.violations and #r.violations > 0 then
      parts[#parts + 1] = table.concat(r.violations, ", ")
    end
    return table.concat(parts, " · ")
  end,

  -- Two offices edited the same case at once. Take every field changed on
  -- one side only; for lists of ids and violations take the union; for
  -- hearings keep every distinct hearing. If both sides changed the same
  -- other field differently, decline: a person decides.
  merge = function(base, ours, theirs)
    base = base or {}
    local out, keys = {}, {}
    for k in pairs(ours) do keys[k] = true end
    for k in pairs(theirs) do keys[k] = true end
    for k in pairs(keys) do
      local b, o, t = base[k], ours[k], theirs[k]
      if same(o, t) or same(t, b) then
        out[k] = o
      elseif same(o, b) then
        out[k] = t
      elseif k == "appeals" or k == "testimonies" or k == "violations" or k == "hearings" then
        local merged, seen = tunduk.array(), {}
        for _, side in ipairs({ o or {}, t or {} }) do
          for _, v in ipairs(side) do
            local key = type(v) == "table" and (tostring(v.date) .. "|" .. tostring(v.court) ..
              "|" .. tostring(v.outcome)) or tostring(v)
            if not seen[key] then
              seen[key] = true
              merged[#merged + 1] = v
            end
          end
        end
        out[k] = merged
      else
        return nil, "both sides changed field '" .. k .. "'"
      end
    end
    return out
  end,
}
