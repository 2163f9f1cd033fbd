{{/* Chart name, release-scoped full name and the labels every object carries. */}}
{{- define "aegis.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "aegis.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "aegis.selectorLabels" -}}
app.kubernetes.io/name: {{ include "aegis.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "aegis.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "aegis.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: aegis
{{- end -}}

{{- define "aegis.gatewayName" -}}
{{- printf "%s-gateway" (include "aegis.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "aegis.snapshotName" -}}
{{- printf "%s-snapshot" (include "aegis.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "aegis.configName" -}}
{{- printf "%s-config" (include "aegis.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "aegis.tokensSecretName" -}}
{{- if .Values.auth.existingSecret -}}
{{- .Values.auth.existingSecret -}}
{{- else -}}
{{- printf "%s-api-tokens" (include "aegis.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The worker Deployment of one tier: (dict "root" $ "tier" "t1"). */}}
{{- define "aegis.workerName" -}}
{{- printf "%s-%s" .root.Values.remediationName .tier -}}
{{- end -}}

{{/* ServiceAccount name of one role: (dict "root" $ "role" "worker"). */}}
{{- define "aegis.serviceAccountName" -}}
{{- $sa := index .root.Values.serviceAccounts .role -}}
{{- if $sa.create -}}
{{- default (printf "%s-%s" (include "aegis.fullname" .root) .role | trunc 63 | trimSuffix "-") $sa.name -}}
{{- else -}}
{{- default "default" $sa.name -}}
{{- end -}}
{{- end -}}

{{/* Image of one service: (dict "root" $ "image" .Values.image.worker). */}}
{{- define "aegis.image" -}}
{{- printf "%s:%s" .image.repository (default .root.Chart.AppVersion .root.Values.image.tag) -}}
{{- end -}}

{{/*
A worker pod's terminationGracePeriodSeconds: the tier's job timeout + the shutdown deadline + a
margin. On SIGTERM a worker lets its running job finish (up to the tier timeout), then gives it
AEGIS_SHUTDOWN_DEADLINE more before handing it back, and exits 5 s after that at the latest; the
kubelet must not kill it first. (dict "root" $ "tier" $tierValues)
*/}}
{{- define "aegis.workerGracePeriod" -}}
{{- add .tier.timeoutSeconds .root.Values.shutdown.deadlineSeconds .root.Values.shutdown.graceMarginSeconds -}}
{{- end -}}

{{/* Environment every service takes besides the ConfigMap: REDIS_URL from a Secret when one is set. */}}
{{- define "aegis.redisEnv" -}}
{{- if .Values.redis.existingSecret -}}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.existingSecret }}
      key: {{ .Values.redis.existingSecretKey }}
{{- end -}}
{{- end -}}

{{- define "aegis.podSecurityContext" -}}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end -}}

{{- define "aegis.containerSecurityContext" -}}
securityContext:
  {{- toYaml .Values.securityContext | nindent 2 }}
{{- end -}}

{{/* /tmp as an emptyDir: the root filesystem is read-only, tsx keeps its compile cache in /tmp. */}}
{{- define "aegis.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpVolume.sizeLimit }}
{{- end -}}

{{- define "aegis.tmpMount" -}}
- name: tmp
  mountPath: /tmp
{{- end -}}

{{/*
KEDA query for one tier: its waiting + prioritized jobs (deduplicated across gateway replicas, which
all export the same queue depth), times (1 - aegis_dispatcher_paused). BullMQ 6 keeps paused jobs in
the wait list, so without the second factor an emergency stop would scale the tier up.
(dict "queue" "remediation-t1" "filter" "namespace=\"aegis\"")
*/}}
{{- define "aegis.kedaQuery" -}}
{{- $extra := ternary "" (printf ",%s" .filter) (empty .filter) -}}
{{- $paused := ternary "" (printf "{%s}" .filter) (empty .filter) -}}
{{- printf "sum(max by (state) (aegis_queue_jobs{queue=\"%s\",state=~\"waiting|prioritized\"%s})) * on() (1 - max(aegis_dispatcher_paused%s))" .queue $extra $paused -}}
{{- end -}}

{{/* Checks the schema cannot express. */}}
{{- define "aegis.validate" -}}
{{- $w := .Values.serviceAccounts.worker -}}
{{- $s := .Values.serviceAccounts.snapshot -}}
{{- if and $w.roleArn (eq $w.roleArn $s.roleArn) -}}
{{- fail "serviceAccounts.worker.roleArn and serviceAccounts.snapshot.roleArn must differ: only the snapshot service's role may write the snapshot bucket" -}}
{{- end -}}
{{- $wn := include "aegis.serviceAccountName" (dict "root" . "role" "worker") -}}
{{- $sn := include "aegis.serviceAccountName" (dict "root" . "role" "snapshot") -}}
{{- if eq $wn $sn -}}
{{- fail "the worker and snapshot ServiceAccounts must differ (serviceAccounts.*.name): workers and the snapshot service get different roles" -}}
{{- end -}}
{{- end -}}
