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
  label = "Appeal / Обращение / Кайрылуу",

  fields = {
    addressee      = { kind = "text", label = "Addressee (authority) / Адресат / Кайрылуучу орган" },
    addressee_kind = { kind = "enum", label = "Kind of authority / Вид органа",
                       values = { "prosecutor", "court", "police", "penitentiary",
                                  "ombudsman", "president", "parliament", "ministry",
                                  "un_body", "other" } },
    date_sent      = { kind = "date", label = "Date sent / Дата отправки / Жөнөтүлгөн күнү" },
    reference      = { kind = "text", label = "Outgoing number / Исходящий номер" },
    subject        = { kind = "text", label = "Subject / Предмет / Темасы" },
    related_case   = { kind = "ref",  label = "Related case / Дело / Иш" },
    reply_due      = { kind = "date", label = "Reply due / Срок ответа / Жооп мөөнөтү" },
    reply_received = { kind = "date", label = "Reply received / Ответ получен / Жооп алынды" },
    outcome        = { kind = "enum", label = "Outcome / Результат / Жыйынтык",
                       values = { "pending", "granted", "partially_granted", "refused",
                                  "forwarded", "no_reply" } },
    notes          = { kind = "text", label = "Notes / Заметки" },
  },

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
