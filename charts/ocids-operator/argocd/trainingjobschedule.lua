-- Argo CD health of an ocids.io/v1alpha1 TrainingJobSchedule (resource.customizations.health.ocids.io_TrainingJobSchedule).
-- The schedule's own health, not its runs' (each run has its own): Active is Healthy; Stalled=True
-- (a cron line or time zone the operator cannot read, a refused OCI Schedule) is Degraded; waiting
-- or retrying (Reconciling=True) is Progressing. A suspended schedule is Suspended, as Argo CD reports
-- a suspended CronJob (kstatus: Current). Same order as kstatus otherwise.
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
  if phase == "Suspended" then
    hs.status = "Suspended"
  else
    hs.status = "Healthy"
  end
  hs.message = phase .. ": " .. said(ready, "scheduled")
  return hs
end

hs.status = "Progressing"
hs.message = phase .. ": " .. said(ready, "waiting for the schedule to be Active")
return hs
