-- limits.lua: the "limits" moderation rule. It runs on the receiving node
-- (the hub, during sync) for every incoming revision and answers accept,
-- reject(reason) or quarantine(reason).
--
-- The hub usually holds no vault key: then it sees only the envelope (type,
-- vault, author device, size, time) and `record` is nil. The consent check
-- runs only where the record can be read.

---------------------------------------------------------------------------
-- Options (change these for your organisation, then reload the hub)
---------------------------------------------------------------------------

-- Largest revision accepted per content type, in bytes of the encoded
-- revision. A type not listed here uses `default`.
local max_bytes = {
  case = 256 * 1024,
  appeal = 256 * 1024,
  testimony = 1024 * 1024,  -- narratives can be long
  ["plugin-set"] = 2 * 1024 * 1024,  -- a whole plugin folder (tunduk plugin publish)
  default = 512 * 1024,
}

-- Which content types a vault may hold. A vault not listed here takes
-- records of every content type (a new content type needs no change here,
-- at the hub or at any office). List a vault to restrict it to the types
-- named; a "*" entry restricts every vault not listed.
local allowed_types = {
  -- ["osh-testimonies"] = { "testimony" },
  -- ["*"] = { "case", "appeal", "testimony" },
}

-- Testimonies must say how consent was given (recorded / written /
-- withdrawn). One without it is put in quarantine for an admin to look at.
local require_consent = true
local consent_values = { recorded = true, written = true, withdrawn = true }

---------------------------------------------------------------------------
-- The rule
---------------------------------------------------------------------------

local allowed = {}
for vault, types in pairs(allowed_types) do
  allowed[vault] = {}
  for _, t in ipairs(types) do allowed[vault][t] = true end
end

tunduk.moderation {
  name = "limits",
  -- Only testimonies are read (the consent check); every other record is
  -- checked by its envelope alone, and never decrypted for this rule.
  reads = { "testimony" },

  check = function(meta, record)
    local limit = max_bytes[meta.type] or max_bytes.default
    if meta.size and limit and meta.size > limit then
      return tunduk.reject(string.format("%s revision of %d bytes is over the %d byte limit",
                                         tostring(meta.type), meta.size, limit))
    end
    -- tunduk's own plugin sets (tunduk plugin publish) may be in any vault
    if meta.type == "plugin-set" then return tunduk.accept() end
    local types = allowed[meta.vault] or allowed["*"]
    if types and not types[meta.type] then
      return tunduk.reject("vault '" .. tostring(meta.vault) .. "' does not take '" ..
                           tostring(meta.type) .. "' records")
    end
    -- A deletion carries no fields to check.
    if record and not meta.deleted and meta.type == "testimony" and require_consent
       and not consent_values[record.consent] then
      return tunduk.quarantine("testimony without consent (recorded, written or withdrawn)")
    end
    return tunduk.accept()
  end,
}
