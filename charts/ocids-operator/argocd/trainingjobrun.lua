-- Argo CD health of an ocids.io/v1alpha1 TrainingJobRun (resource.customizations.health.ocids.io_TrainingJobRun).
-- A run is one execution: Succeeded is Healthy; Failed, Canceled, Deleted (in OCI) and NeedsAttention
-- are Degraded (the operator sets Stalled=True; a finished run is never re-run, so only a new run
-- helps); Pending, Accepted, InProgress and Canceling are Progressing. Same order as kstatus.
-- A failed attempt waiting for its retry (retryPolicy) is Pending with Reconciling=True: Progressing,
-- only the last attempt's end counts. A run canceled by spec.cancel ends Canceled: Degraded, as any
-- canceled run (it did not produce what it was applied for).
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
  local prefix = phase
  if status.exitCode ~= nil then
    prefix = prefix .. " (exit code " .. status.exitCode .. ")"
  end
  hs.message = prefix .. ": " .. said(stalled, stalled.reason or "stalled")
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
  hs.message = phase .. ": " .. said(ready, "finished")
  return hs
end

hs.status = "Progressing"
hs.message = phase .. ": " .. said(ready, "waiting for the run to finish")
return hs
