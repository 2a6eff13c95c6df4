-- Argo CD health of an ocids.io/v1alpha1 TrainingJobSweep (resource.customizations.health.ocids.io_TrainingJobSweep).
-- A sweep is one search, like a run is one execution: Succeeded (every trial done, or objective.target
-- reached) is Healthy; Failed (maxFailures trials failed, none succeeded, or refused) is Degraded (the
-- operator sets Stalled=True; a sweep is never re-run, apply a new one); Pending and Running, and a
-- sweep still canceling its trials, are Progressing. Same order as kstatus.
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
  hs.message = phase .. ": " .. said(stalled, stalled.reason or "stalled")
  return hs
end

local reconciling = condition("Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = phase .. ": " .. said(reconciling, reconciling.reason or "trials running")
  return hs
end

local ready = condition("Ready")
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = phase .. ": " .. said(ready, "finished")
  return hs
end

hs.status = "Progressing"
hs.message = phase .. ": " .. said(ready, "waiting for the trials to finish")
return hs
