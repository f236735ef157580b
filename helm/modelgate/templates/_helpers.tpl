{{/* Names, labels and the pieces every Modelgate pod shares. */}}

{{- define "modelgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "modelgate.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "modelgate.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "modelgate.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "api") */}}
{{- define "modelgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "modelgate.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "modelgate.labels" -}}
{{ include "modelgate.selectorLabels" . }}
app.kubernetes.io/part-of: modelgate
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "modelgate.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{- define "modelgate.bootstrapSecretName" -}}
{{- .Values.bootstrap.existingSecret | default (printf "%s-bootstrap" (include "modelgate.fullname" .)) -}}
{{- end -}}

{{- define "modelgate.secretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-env" (include "modelgate.fullname" .)) -}}
{{- end -}}

{{/* The policy files: the values' own, else the chart's copy of policies/*.yaml. */}}
{{- define "modelgate.policyFiles" -}}
{{- if .Values.policies.files -}}
{{- range $name, $content := .Values.policies.files }}
{{ $name }}: {{ $content | quote }}
{{- end }}
{{- else -}}
{{- range $path, $_ := .Files.Glob "policies/*.{yaml,yml}" }}
{{ base $path }}: {{ $.Files.Get $path | quote }}
{{- end }}
{{- end -}}
{{- end -}}

{{/*
Pod annotations that roll the pods when what they read at start changes: the policies,
the plain settings, and the chart's Secret (an existing Secret is yours to roll).
*/}}
{{- define "modelgate.checksums" -}}
checksum/policies: {{ include "modelgate.policyFiles" . | sha256sum }}
checksum/config: {{ toJson (list .Values.config .Values.extraEnv) | sha256sum }}
{{- if not .Values.secrets.existingSecret }}
checksum/secret: {{ include "modelgate.secretData" . | sha256sum }}
{{- end }}
{{- end -}}

{{- define "modelgate.secretData" -}}
{{- $s := .Values.secrets -}}
MODELGATE_DATABASE_URL: {{ required "secrets.databaseUrl is required (or name a secrets.existingSecret)" $s.databaseUrl | quote }}
MODELGATE_SECRET_KEY: {{ required "secrets.secretKey is required (or name a secrets.existingSecret)" $s.secretKey | quote }}
{{- if or .Values.worker.enabled .Values.beat.enabled }}
MODELGATE_REDIS_URL: {{ required "secrets.redisUrl is required while the worker or beat is enabled" $s.redisUrl | quote }}
{{- else if $s.redisUrl }}
MODELGATE_REDIS_URL: {{ $s.redisUrl | quote }}
{{- end }}
{{- with $s.metricsToken }}
MODELGATE_METRICS_TOKEN: {{ . | quote }}
{{- end }}
{{- with $s.webhookEncryptionKey }}
MODELGATE_WEBHOOK_ENCRYPTION_KEY: {{ . | quote }}
{{- end }}
{{- with $s.auditSigningKey }}
MODELGATE_AUDIT_SIGNING_KEY: {{ . | quote }}
{{- end }}
{{- with $s.oidc.issuer }}
MODELGATE_OIDC_ISSUER: {{ . | quote }}
{{- end }}
{{- with $s.oidc.audience }}
MODELGATE_OIDC_AUDIENCE: {{ . | quote }}
{{- end }}
{{- with $s.oidc.jwksUrl }}
MODELGATE_OIDC_JWKS_URL: {{ . | quote }}
{{- end }}
{{- range $name, $value := $s.extra }}
{{ $name }}: {{ $value | quote }}
{{- end }}
{{- end -}}

{{/*
The migration job's own database URL, of the role that owns the schema: in a Secret the
pods never read, so the service itself cannot lift the audit ledger's guard. Empty: the
job uses the pods' URL (one role for both).
*/}}
{{- define "modelgate.migrationSecretName" -}}
{{- if .Values.secrets.existingMigrationSecret -}}
{{- .Values.secrets.existingMigrationSecret -}}
{{- else if .Values.secrets.migrationDatabaseUrl -}}
{{- printf "%s-migrate" (include "modelgate.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* Entries the migration job adds to its env (they win over the Secret's). */}}
{{- define "modelgate.migrationEnv" -}}
{{- with include "modelgate.migrationSecretName" . }}
{{- if not $.Values.migrations.appRole }}
{{- fail "migrations.appRole is required with a migration URL: the job grants that role the service's privileges" }}
{{- end }}
- name: MODELGATE_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: MODELGATE_DATABASE_URL
{{- end }}
{{- with .Values.migrations.appRole }}
- name: MODELGATE_DATABASE_APP_ROLE
  value: {{ . | quote }}
{{- end }}
{{- end -}}

{{/*
Environment of every Modelgate container: the Secret, the settings, the policies. The first
admin token goes to the migration job alone (include with (merge (dict "bootstrapJob" true) .));
every other container has it blanked, so one kept in an existing Secret never reaches them.
*/}}
{{- define "modelgate.env" -}}
envFrom:
  - secretRef:
      name: {{ include "modelgate.secretName" . }}
env:
  {{- if .bootstrapJob }}
  - name: MODELGATE_BOOTSTRAP_TOKEN
    valueFrom:
      secretKeyRef:
        name: {{ include "modelgate.bootstrapSecretName" . }}
        key: {{ .Values.bootstrap.secretKey }}
  - name: MODELGATE_BOOTSTRAP_TOKEN_TTL
    value: {{ .Values.bootstrap.ttl | quote }}
  {{- else }}
  - name: MODELGATE_BOOTSTRAP_TOKEN
    value: ""
  {{- end }}
  - name: MODELGATE_POLICY_PATH
    value: {{ .Values.policies.mountPath | quote }}
  {{- range $name, $value := .Values.config }}
  - name: MODELGATE_{{ $name }}
    value: {{ $value | toString | quote }}
  {{- end }}
  {{- with .Values.extraEnv }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}

{{/* Pod-level settings every Modelgate pod shares. */}}
{{- define "modelgate.podSpec" -}}
automountServiceAccountToken: false
{{- with .Values.serviceAccountName }}
serviceAccountName: {{ . }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The container-level half: image and the locked-down security context. */}}
{{- define "modelgate.container" -}}
image: {{ include "modelgate.image" . }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
securityContext:
  {{- toYaml .Values.containerSecurityContext | nindent 2 }}
{{- end -}}

{{/* Writable scratch space under a read-only root filesystem. */}}
{{- define "modelgate.scratchVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.scratchSizeLimit }}
{{- end -}}

{{- define "modelgate.policiesVolume" -}}
- name: policies
  configMap:
    name: {{ include "modelgate.fullname" . }}-policies
{{- end -}}

{{- define "modelgate.mounts" -}}
- name: tmp
  mountPath: /tmp
- name: policies
  mountPath: {{ .Values.policies.mountPath }}
  readOnly: true
{{- end -}}
