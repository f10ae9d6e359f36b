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
  label = { en = "Testimony", ru = "Показание", ky = "Көрсөтмө" },

  fields = {
    witness_alias = { kind = "text", label = { en = "Witness alias", ru = "Псевдоним свидетеля",
                                               ky = "Күбөнүн лакап аты" } },
    consent       = { kind = "enum", label = { en = "Consent", ru = "Согласие", ky = "Макулдук" },
                      values = { "recorded", "written", "withdrawn" },
                      value_labels = {
                        recorded  = { en = "Recorded (audio or video)", ru = "Записано (аудио или видео)",
                                      ky = "Жазылып алынган (аудио же видео)" },
                        written   = { en = "Written and signed", ru = "Письменное, подписано",
                                      ky = "Жазуу жүзүндө, кол коюлган" },
                        withdrawn = { en = "Withdrawn", ru = "Отозвано", ky = "Кайтарылып алынган" },
                      } },
    consent_date  = { kind = "date", label = { en = "Consent given or withdrawn on", ru = "Дата согласия или отзыва",
                                               ky = "Макулдук берилген же кайтарылган күн" } },
    title         = { kind = "text", label = { en = "Short description", ru = "Краткое описание", ky = "Кыскача баяндама" } },
    date          = { kind = "date", label = { en = "Date taken", ru = "Дата записи", ky = "Алынган күнү" } },
    place         = { kind = "text", label = { en = "Place", ru = "Место", ky = "Жери" } },
    language      = { kind = "enum", label = { en = "Language", ru = "Язык", ky = "Тили" },
                      values = { "ky", "ru", "uz", "tg", "en", "other" },
                      value_labels = {
                        ky    = { en = "Kyrgyz", ru = "Кыргызский", ky = "Кыргызча" },
                        ru    = { en = "Russian", ru = "Русский", ky = "Орусча" },
                        uz    = { en = "Uzbek", ru = "Узбекский", ky = "Өзбекче" },
                        tg    = { en = "Tajik", ru = "Таджикский", ky = "Тажикче" },
                        en    = { en = "English", ru = "Английский", ky = "Англисче" },
                        other = { en = "Other", ru = "Другой", ky = "Башка" },
                      } },
    interviewer   = { kind = "text", label = { en = "Taken by", ru = "Кто записал", ky = "Ким жазып алды" } },
    narrative     = { kind = "text", label = { en = "Narrative", ru = "Рассказ", ky = "Баяндама" } },
    related_case  = { kind = "ref",  type = "case",
                      label = { en = "Related case", ru = "Связанное дело", ky = "Байланыштуу иш" } },
    sensitivity   = { kind = "enum", label = { en = "Sensitivity", ru = "Чувствительность", ky = "Сезимталдуулугу" },
                      values = { "low", "medium", "high" },
                      value_labels = {
                        low    = { en = "Low", ru = "Низкая", ky = "Төмөн" },
                        medium = { en = "Medium", ru = "Средняя", ky = "Орточо" },
                        high   = { en = "High", ru = "Высокая", ky = "Жогору" },
                      } },
  },

  -- The order a form shows the fields in.
  order = { "witness_alias", "consent", "consent_date", "title", "date", "place",
            "language", "interviewer", "sensitivity", "related_case", "narrative" },

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
