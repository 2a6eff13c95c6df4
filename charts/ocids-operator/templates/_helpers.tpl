{{/* Names and labels shared by every template. */}}
{{- define "ocids-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ocids-operator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "ocids-operator.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "ocids-operator.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "ocids-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "ocids-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* A digest pins the image; otherwise the tag, defaulting to the chart's appVersion. */}}
{{- define "ocids-operator.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{- define "ocids-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ocids-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ocids-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "ocids-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ocids-operator
{{- end -}}


{{/* Operator pods: replicaCount, else 2 with leader election and 1 without; several need it on. */}}
{{- define "ocids-operator.replicas" -}}
{{- $replicas := ternary 2 1 .Values.leaderElection.enabled -}}
{{- if not (kindIs "invalid" .Values.replicaCount) -}}
{{- $replicas = int .Values.replicaCount -}}
{{- end -}}
{{- if and (gt $replicas 1) (not .Values.leaderElection.enabled) -}}
{{- fail (printf "replicaCount=%d needs leaderElection.enabled=true: replicas without leader election would all reconcile the same objects" $replicas) -}}
{{- end -}}
{{- $replicas -}}
{{- end -}}

{{/* The price table ConfigMap's name: prices.name, else per release (two releases never share it). */}}
{{- define "ocids-operator.pricesName" -}}
{{- .Values.prices.name | default (printf "%s-prices" (include "ocids-operator.fullname" .)) | trunc 253 -}}
{{- end -}}
