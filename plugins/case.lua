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

-- Kinds of violation a case may record (the "violations" list), with the
-- labels a form shows for each.
local violation_kinds = {
  "torture", "ill_treatment", "arbitrary_detention", "fair_trial", "death_in_custody",
  "enforced_disappearance", "freedom_of_expression", "freedom_of_assembly",
  "discrimination", "property", "other",
}
local violation_labels = {
  torture                = { en = "Torture", ru = "Пытки", ky = "Кыйноо" },
  ill_treatment          = { en = "Ill-treatment", ru = "Жестокое обращение", ky = "Ырайымсыз мамиле" },
  arbitrary_detention    = { en = "Arbitrary detention", ru = "Произвольное задержание", ky = "Негизсиз кармоо" },
  fair_trial             = { en = "Right to a fair trial", ru = "Право на справедливый суд", ky = "Адилеттүү сотко укук" },
  death_in_custody       = { en = "Death in custody", ru = "Смерть под стражей", ky = "Камакта каза болуу" },
  enforced_disappearance = { en = "Enforced disappearance", ru = "Насильственное исчезновение", ky = "Мажбурлап жоголтуу" },
  freedom_of_expression  = { en = "Freedom of expression", ru = "Свобода выражения мнений", ky = "Сөз эркиндиги" },
  freedom_of_assembly    = { en = "Freedom of assembly", ru = "Свобода собраний", ky = "Чогулуш эркиндиги" },
  discrimination         = { en = "Discrimination", ru = "Дискриминация", ky = "Басмырлоо" },
  property               = { en = "Right to property", ru = "Право собственности", ky = "Менчик укугу" },
  other                  = { en = "Other", ru = "Другое", ky = "Башка" },
}

-- Fields that would hold a person's real identity: refused outright.
local forbidden_fields = {
  "client_name", "client_full_name", "real_name", "full_name",
  "passport", "passport_number", "personal_number",
}

---------------------------------------------------------------------------
-- Helpers (plain Lua; nothing here touches the outside world)
---------------------------------------------------------------------------

local function present(v)
  return v ~= nil and v ~= tunduk.null and v ~= ""
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
  label = { en = "Case", ru = "Дело", ky = "Иш" },

  fields = {
    case_number  = { kind = "text", label = { en = "Case number", ru = "Номер дела", ky = "Иштин номери" } },
    client_alias = { kind = "text", label = { en = "Client alias (never the real name)",
                                              ru = "Псевдоним клиента (не настоящее имя)",
                                              ky = "Кардардын лакап аты (чыныгы аты эмес)" } },
    title        = { kind = "text", label = { en = "Short description", ru = "Краткое описание", ky = "Кыскача баяндама" } },
    office       = { kind = "text", label = { en = "Office", ru = "Офис", ky = "Кеңсе" } },
    region       = { kind = "text", label = { en = "Region", ru = "Область", ky = "Облус" } },
    court        = { kind = "text", label = { en = "Court", ru = "Суд", ky = "Сот" } },
    proceeding   = { kind = "enum", label = { en = "Proceeding", ru = "Производство", ky = "Иш жүргүзүү" },
                     values = { "criminal", "administrative", "civil" },
                     value_labels = {
                       criminal       = { en = "Criminal", ru = "Уголовное", ky = "Кылмыш иши" },
                       administrative = { en = "Administrative", ru = "Административное", ky = "Административдик" },
                       civil          = { en = "Civil", ru = "Гражданское", ky = "Жарандык" },
                     } },
    article      = { kind = "text", label = { en = "Article (criminal or administrative code)",
                                              ru = "Статья (уголовного или административного кодекса)",
                                              ky = "Берене (кылмыш же административдик кодекс)" } },
    violations   = { kind = "list", label = { en = "Violations", ru = "Нарушения", ky = "Бузуулар" },
                     items = { kind = "enum", values = violation_kinds, value_labels = violation_labels } },
    status       = { kind = "enum", label = { en = "Status", ru = "Статус", ky = "Абалы" },
                     values = { "intake", "open", "investigation", "in_court",
                                "appeal_filed", "international", "closed",
                                "archived" },
                     value_labels = {
                       intake        = { en = "Intake", ru = "Приём", ky = "Кабыл алуу" },
                       open          = { en = "Open", ru = "Открыто", ky = "Ачык" },
                       investigation = { en = "Investigation", ru = "Расследование", ky = "Тергөө" },
                       in_court      = { en = "In court", ru = "В суде", ky = "Сотто" },
                       appeal_filed  = { en = "Appeal filed", ru = "Подана апелляция", ky = "Апелляция берилди" },
                       international = { en = "International body", ru = "Международный орган", ky = "Эл аралык орган" },
                       closed        = { en = "Closed", ru = "Закрыто", ky = "Жабылды" },
                       archived      = { en = "Archived", ru = "В архиве", ky = "Архивде" },
                     } },
    opened       = { kind = "date", label = { en = "Date opened", ru = "Дата открытия", ky = "Ачылган күнү" } },
    closed       = { kind = "date", label = { en = "Date closed", ru = "Дата закрытия", ky = "Жабылган күнү" } },
    hearings     = { kind = "list", label = { en = "Hearings", ru = "Заседания", ky = "Сот отурумдары" },
                     items = { kind = "object",
                               fields = {
                                 date    = { kind = "date", required = true,
                                             label = { en = "Date", ru = "Дата", ky = "Күнү" } },
                                 court   = { kind = "text", label = { en = "Court", ru = "Суд", ky = "Сот" } },
                                 outcome = { kind = "text", label = { en = "Outcome", ru = "Результат", ky = "Жыйынтыгы" } },
                               },
                               order = { "date", "court", "outcome" } } },
    lawyer       = { kind = "text", label = { en = "Lawyer", ru = "Адвокат", ky = "Жактоочу" } },
    appeals      = { kind = "list", label = { en = "Related appeals", ru = "Связанные обращения", ky = "Байланыштуу кайрылуулар" },
                     items = { kind = "ref", type = "appeal" } },
    testimonies  = { kind = "list", label = { en = "Related testimonies", ru = "Связанные показания", ky = "Байланыштуу көрсөтмөлөр" },
                     items = { kind = "ref", type = "testimony" } },
    notes        = { kind = "text", label = { en = "Notes", ru = "Заметки", ky = "Эскертүүлөр" } },
  },

  required = { "case_number", "client_alias", "status" },

  -- The order a form shows the fields in.
  order = { "case_number", "client_alias", "title", "status", "proceeding", "article",
            "violations", "office", "region", "court", "lawyer", "opened", "closed",
            "hearings", "appeals", "testimonies", "notes" },

  -- The host has already checked the fields above (required ones present,
  -- enum values, dates, and every item of the lists: violations among
  -- their values, each hearing an object with a date, appeals and
  -- testimonies record ids). This checks what lies between fields, and
  -- returns every problem it finds, each with its field.
  validate = function(r)
    local problems = {}
    for _, f in ipairs(forbidden_fields) do
      if r[f] ~= nil then
        problems[#problems + 1] =
          "field '" .. f .. "' is not allowed: record the client_alias, never the real name"
      end
    end
    if present(r.opened) and present(r.closed) and r.closed < r.opened then
      problems[#problems + 1] = { field = "closed",
        message = "field 'closed' (" .. r.closed .. ") is before 'opened' (" .. r.opened .. ")" }
    end
    if #problems > 0 then return nil, problems end
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
