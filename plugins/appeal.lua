-- appeal.lua: the "appeal" content type, a letter the movement sends to an
-- authority (обращение / кайрылуу): a complaint to the prosecutor, a
-- request for a forensic examination, a communication to a UN body, and
-- what came back.

---------------------------------------------------------------------------
-- Options
---------------------------------------------------------------------------

-- Outcomes that only make sense once a reply has arrived.
local needs_reply = { granted = true, partially_granted = true, refused = true }

---------------------------------------------------------------------------
-- Helpers
---------------------------------------------------------------------------

local function present(v)
  return v ~= nil and v ~= tunduk.null and v ~= ""
end

---------------------------------------------------------------------------
-- The content type
---------------------------------------------------------------------------

tunduk.content_type {
  name = "appeal",
  label = { en = "Appeal", ru = "Обращение", ky = "Кайрылуу" },

  fields = {
    addressee      = { kind = "text", label = { en = "Addressee (authority)", ru = "Адресат (орган)",
                                                ky = "Кайрылуу дареги (орган)" } },
    addressee_kind = { kind = "enum", label = { en = "Kind of authority", ru = "Вид органа", ky = "Органдын түрү" },
                       values = { "prosecutor", "court", "police", "penitentiary",
                                  "ombudsman", "president", "parliament", "ministry",
                                  "un_body", "other" },
                       value_labels = {
                         prosecutor   = { en = "Prosecutor", ru = "Прокуратура", ky = "Прокуратура" },
                         court        = { en = "Court", ru = "Суд", ky = "Сот" },
                         police       = { en = "Police", ru = "Милиция", ky = "Милиция" },
                         penitentiary = { en = "Penitentiary service", ru = "Пенитенциарная служба",
                                          ky = "Жаза аткаруу кызматы" },
                         ombudsman    = { en = "Ombudsman", ru = "Омбудсмен", ky = "Акыйкатчы" },
                         president    = { en = "President's office", ru = "Администрация президента",
                                          ky = "Президенттин администрациясы" },
                         parliament   = { en = "Parliament", ru = "Парламент", ky = "Жогорку Кеңеш" },
                         ministry     = { en = "Ministry", ru = "Министерство", ky = "Министрлик" },
                         un_body      = { en = "UN body", ru = "Орган ООН", ky = "БУУ органы" },
                         other        = { en = "Other", ru = "Другое", ky = "Башка" },
                       } },
    date_sent      = { kind = "date", label = { en = "Date sent", ru = "Дата отправки", ky = "Жөнөтүлгөн күнү" } },
    reference      = { kind = "text", label = { en = "Outgoing number", ru = "Исходящий номер", ky = "Чыгыш номери" } },
    subject        = { kind = "text", label = { en = "Subject", ru = "Предмет", ky = "Темасы" } },
    related_case   = { kind = "ref",  type = "case",
                       label = { en = "Related case", ru = "Связанное дело", ky = "Байланыштуу иш" } },
    reply_due      = { kind = "date", label = { en = "Reply due", ru = "Срок ответа", ky = "Жооп берүү мөөнөтү" } },
    reply_received = { kind = "date", label = { en = "Reply received", ru = "Ответ получен", ky = "Жооп алынган күнү" } },
    outcome        = { kind = "enum", label = { en = "Outcome", ru = "Результат", ky = "Жыйынтыгы" },
                       values = { "pending", "granted", "partially_granted", "refused",
                                  "forwarded", "no_reply" },
                       value_labels = {
                         pending           = { en = "Pending", ru = "Ожидается", ky = "Күтүлүүдө" },
                         granted           = { en = "Granted", ru = "Удовлетворено", ky = "Канааттандырылды" },
                         partially_granted = { en = "Partially granted", ru = "Частично удовлетворено",
                                               ky = "Жарым-жартылай канааттандырылды" },
                         refused           = { en = "Refused", ru = "Отказано", ky = "Четке кагылды" },
                         forwarded         = { en = "Forwarded", ru = "Перенаправлено", ky = "Башка органга жөнөтүлдү" },
                         no_reply          = { en = "No reply", ru = "Нет ответа", ky = "Жооп жок" },
                       } },
    notes          = { kind = "text", label = { en = "Notes", ru = "Заметки", ky = "Эскертүүлөр" } },
  },

  -- The order a form shows the fields in.
  order = { "subject", "addressee", "addressee_kind", "related_case", "reference",
            "date_sent", "reply_due", "reply_received", "outcome", "notes" },

  required = { "addressee", "subject" },

  validate = function(r)
    if present(r.reply_due) and present(r.date_sent) and r.reply_due < r.date_sent then
      return nil, "field 'reply_due' (" .. r.reply_due .. ") is before 'date_sent' (" ..
        r.date_sent .. ")"
    end
    if present(r.reply_received) and present(r.date_sent) and r.reply_received < r.date_sent then
      return nil, "field 'reply_received' (" .. r.reply_received ..
        ") is before 'date_sent' (" .. r.date_sent .. ")"
    end
    if needs_reply[r.outcome] and not present(r.reply_received) then
      return nil, "field 'reply_received' is required when the outcome is '" .. r.outcome .. "'"
    end
    return true
  end,

  summary = function(r)
    local parts = { r.addressee }
    if present(r.date_sent) then parts[#parts + 1] = r.date_sent end
    parts[#parts + 1] = r.subject
    if present(r.reply_received) then
      parts[#parts + 1] = "reply " .. r.reply_received .. " (" .. tostring(r.outcome or "?") .. ")"
    elseif present(r.reply_due) then
      local today = os.date("!%Y-%m-%d")
      parts[#parts + 1] = (r.reply_due < today and "OVERDUE since " or "reply due ") .. r.reply_due
    end
    return table.concat(parts, " · ")
  end,
}
