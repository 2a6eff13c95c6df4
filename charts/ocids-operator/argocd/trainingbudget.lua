-- Argo CD health of an ocids.io/v1alpha1 TrainingBudget (resource.customizations.health.ocids.io_TrainingBudget).
-- The budget's own health, not its runs': Active and Exceeded are both Healthy (a budget that holds
-- runs is doing its job; the message gives the figures and the held runs); Stalled=True (a selector
-- the operator cannot apply, a currency that is not the price table's, no price table) is Degraded;
-- no status yet, or a spec edit not yet observed, is Progressing. Same order as kstatus.
local hs = {}

local function condition(kind)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function said(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return fallback
end

local status = obj.status
if status == nil or status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report status"
  return hs
end

local generation = obj.metadata.generation
if generation ~= nil and status.observedGeneration ~= nil and status.observedGeneration ~= generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to apply generation " .. generation ..
    " (observed " .. status.observedGeneration .. ")"
  return hs
end

local phase = status.phase or "Pending"
local stalled = condition("Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = (stalled.reason or "Stalled") .. ": " .. said(stalled, "stalled")
  return hs
end

local reconciling = condition("Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = phase .. ": " .. said(reconciling, reconciling.reason or "in progress")
  return hs
end

local ready = condition("Ready")
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = phase .. ": " .. said(ready, "applied")
  return hs
end

hs.status = "Progressing"
hs.message = phase .. ": " .. said(ready, "waiting for the budget to be applied")
return hs
