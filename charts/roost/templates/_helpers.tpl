{{/* The release's full name, at most 63 characters. */}}
{{- define "roost.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels every object carries. */}}
{{- define "roost.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "api"). */}}
{{- define "roost.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "roost.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "roost.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The image by digest when one is given (immutable), else by tag. */}}
{{- define "roost.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}
{{- end -}}
{{- end -}}

{{/* Pod-level security: non-root, RuntimeDefault seccomp (Pod Security "restricted"). */}}
{{- define "roost.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Every container's security context. */}}
{{- define "roost.securityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Environment both binaries read: credentials as files, the rest as values. */}}
{{- define "roost.env" -}}
- name: ROOST_DATABASE_URL_FILE
  value: /var/run/secrets/roost/database/{{ .Values.database.urlKey }}
- name: ROOST_REDIS_URL_FILE
  value: /var/run/secrets/roost/redis/{{ .Values.redis.urlKey }}
- name: ROOST_JWT_SECRET_FILE
  value: /var/run/secrets/roost/app/{{ .Values.secrets.jwtSecretKey }}
{{- if .Values.secrets.adminTokenKey }}
- name: ROOST_ADMIN_TOKEN_FILE
  value: /var/run/secrets/roost/app/{{ .Values.secrets.adminTokenKey }}
{{- end }}
- name: PGSSLMODE
  value: {{ include "roost.databaseSslMode" . | quote }}
{{- if include "roost.databaseCaSecret" . }}
- name: PGSSLROOTCERT
  value: /var/run/secrets/roost/postgres-ca/ca.crt
{{- end }}
- name: ROOST_LOG_FORMAT
  value: json
{{- range $name, $value := .Values.settings }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}

{{/* The secret files: only the keys the binaries read (never the CA's private key). */}}
{{- define "roost.secretVolumes" -}}
- name: app-secrets
  secret:
    secretName: {{ required "secrets.existingSecret is required: a Secret with the JWT key and the admin token" .Values.secrets.existingSecret }}
    items:
      - key: {{ .Values.secrets.jwtSecretKey }}
        path: {{ .Values.secrets.jwtSecretKey }}
      {{- if .Values.secrets.adminTokenKey }}
      - key: {{ .Values.secrets.adminTokenKey }}
        path: {{ .Values.secrets.adminTokenKey }}
      {{- end }}
- name: database
  secret:
    secretName: {{ include "roost.databaseSecret" . }}
    items:
      - key: {{ .Values.database.urlKey }}
        path: {{ .Values.database.urlKey }}
- name: redis
  secret:
    secretName: {{ required "redis.existingSecret is required: a Secret with the Redis URL" .Values.redis.existingSecret }}
    items:
      - key: {{ .Values.redis.urlKey }}
        path: {{ .Values.redis.urlKey }}
{{- if include "roost.databaseCaSecret" . }}
- name: postgres-ca
  secret:
    secretName: {{ include "roost.databaseCaSecret" . }}
    items:
      - key: ca.crt
        path: ca.crt
{{- end }}
- name: tmp
  emptyDir:
    sizeLimit: 16Mi
{{- end -}}

{{- define "roost.secretMounts" -}}
- name: app-secrets
  mountPath: /var/run/secrets/roost/app
  readOnly: true
- name: database
  mountPath: /var/run/secrets/roost/database
  readOnly: true
- name: redis
  mountPath: /var/run/secrets/roost/redis
  readOnly: true
{{- if include "roost.databaseCaSecret" . }}
- name: postgres-ca
  mountPath: /var/run/secrets/roost/postgres-ca
  readOnly: true
{{- end }}
- name: tmp
  mountPath: /tmp
{{- end -}}

{{/* Scheduling shared by every pod of a component: (dict "root" $ "component" "api"). */}}
{{- define "roost.scheduling" -}}
{{- with .root.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .root.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if .root.Values.topologySpread }}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "roost.selector" . | nindent 8 }}
{{- end }}
{{- end -}}

{{/* Egress every component needs: DNS and PostgreSQL. */}}
{{- define "roost.egressCommon" -}}
# DNS
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: kube-system
      podSelector:
        matchLabels:
          k8s-app: kube-dns
  ports:
    - {protocol: UDP, port: 53}
    - {protocol: TCP, port: 53}
# PostgreSQL
- ports:
    - {protocol: TCP, port: {{ .Values.networkPolicy.postgres.port }}}
  {{- with .Values.networkPolicy.postgres.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end -}}
{{- end -}}

{{/* How migrations run: `auto` is an init container with a CNPG cluster of the release. */}}
{{- define "roost.migrationsMode" -}}
{{- if eq .Values.migrations.mode "auto" -}}
{{- ternary "initContainer" "hook" (eq .Values.database.mode "cnpg") -}}
{{- else -}}
{{- .Values.migrations.mode -}}
{{- end -}}
{{- end -}}

{{- define "roost.dbCluster" -}}
{{ include "roost.fullname" . }}-db
{{- end -}}

{{/* The Secret with the PostgreSQL URL: CNPG's app secret for a cluster of the release. */}}
{{- define "roost.databaseSecret" -}}
{{- if .Values.database.existingSecret -}}
{{ .Values.database.existingSecret }}
{{- else if eq .Values.database.mode "cnpg" -}}
{{ include "roost.dbCluster" . }}-app
{{- else -}}
{{ required "database.existingSecret is required: a Secret with the PostgreSQL URL" .Values.database.existingSecret }}
{{- end -}}
{{- end -}}

{{/* The Secret with the PostgreSQL CA: CNPG's `<cluster>-ca` (only ca.crt is mounted). */}}
{{- define "roost.databaseCaSecret" -}}
{{- if .Values.database.caSecret -}}
{{ .Values.database.caSecret }}
{{- else if eq .Values.database.mode "cnpg" -}}
{{ include "roost.dbCluster" . }}-ca
{{- end -}}
{{- end -}}

{{- define "roost.databaseSslMode" -}}
{{- if and (eq .Values.database.mode "cnpg") (eq .Values.database.sslMode "prefer") -}}
verify-full
{{- else -}}
{{ .Values.database.sslMode }}
{{- end -}}
{{- end -}}
