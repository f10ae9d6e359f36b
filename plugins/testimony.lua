-- testimony.lua: the "testimony" content type, what a witness or survivor
-- told the movement (показание / көрсөтмө).
--
-- Consent comes first. Every testimony says how consent was given
-- ("recorded" on audio or video, "written" and signed) or that it was
-- "withdrawn". When consent is withdrawn the narrative stays in the
-- encrypted store (nothing is lost) but no export ever contains it: tunduk
-- removes it in C before any export plugin sees the record.

---------------------------------------------------------------------------
-- Options
---------------------------------------------------------------------------

-- Fields that would hold the witness's real identity: refused outright.
local forbidden_fields = { "witness_name", "real_name", "full_name", "passport_number" }

---------------------------------------------------------------------------
-- The content type
---------------------------------------------------------------------------

tunduk.content_type {
  name = "testimony",
  label = "Testimony / Показание / Көрсөтмө",

  fields = {
    witness_alias = { kind = "text", label = "Witness alias / Псевдоним свидетеля / Күбөнүн лакап аты" },
    consent       = { kind = "enum", label = "Consent / Согласие / Макулдук",
                      values = { "recorded", "written", "withdrawn" } },
    consent_date  = { kind = "date", label = "Consent given or withdrawn on / Дата согласия" },
    title         = { kind = "text", label = "Short description / Краткое описание" },
    date          = { kind = "date", label = "Date taken / Дата / Күнү" },
    place         = { kind = "text", label = "Place / Место / Жери" },
    language      = { kind = "enum", label = "Language / Язык / Тили",
                      values = { "ky", "ru", "uz", "tg", "en", "other" } },
    interviewer   = { kind = "text", label = "Taken by / Кто записал" },
    narrative     = { kind = "text", label = "Narrative / Рассказ / Баяндама" },
    related_case  = { kind = "ref",  label = "Related case / Дело / Иш" },
    sensitivity   = { kind = "enum", label = "Sensitivity / Чувствительность",
                      values = { "low", "medium", "high" } },
  },

  required = { "witness_alias", "consent" },

  validate = function(r)
    for _, f in ipairs(forbidden_fields) do
      if r[f] ~= nil then
        return nil, "field '" .. f .. "' is not allowed: record the witness_alias, never the real name"
      end
    end
    return true
  end,

  summary = function(r)
    local parts = { r.witness_alias }
    if r.consent == "withdrawn" then
      parts[#parts + 1] = "CONSENT WITHDRAWN"
    else
      parts[#parts + 1] = r.consent .. " consent"
    end
    if type(r.date) == "string" then parts[#parts + 1] = r.date end
    if type(r.place) == "string" and r.place ~= "" then parts[#parts + 1] = r.place end
    if type(r.title) == "string" and r.title ~= "" then parts[#parts + 1] = r.title end
    if type(r.sensitivity) == "string" then parts[#parts + 1] = r.sensitivity .. " sensitivity" end
    return table.concat(parts, " · ")
  end,
}
