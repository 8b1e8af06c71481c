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

{{/* The API pods' account: with doctor.rbac.create their own (`<fullname>-api`), the only one
     bound to the doctor's rights and the only one whose token is mounted; else the common one. */}}
{{- define "roost.apiServiceAccountName" -}}
{{- if .Values.doctor.rbac.create -}}
{{- if not .Values.serviceAccount.create -}}
{{- fail "doctor.rbac.create needs serviceAccount.create: the doctor's rights go to an account of the API pods alone" -}}
{{- end -}}
{{ include "roost.fullname" . }}-api
{{- else -}}
{{ include "roost.serviceAccountName" . }}
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

{{/*
  Environment, secret volumes and mounts, by what a container needs:
  (dict "root" $ "needs" (list "app" "database" "redis")). `app` is the JWT key and the admin
  token (the API only); `database` the PostgreSQL URL and CA; `redis` the Redis URL.
  Credentials are files, read through the binaries' `<VARIABLE>_FILE` settings.
*/}}
{{- define "roost.env" -}}
{{- $v := .root.Values -}}
{{- if has "database" .needs }}
- name: ROOST_DATABASE_URL_FILE
  value: /var/run/secrets/roost/database/{{ $v.database.urlKey }}
- name: PGSSLMODE
  value: {{ include "roost.databaseSslMode" .root | quote }}
{{- if include "roost.databaseCaSecret" .root }}
- name: PGSSLROOTCERT
  value: /var/run/secrets/roost/postgres-ca/ca.crt
{{- end }}
- name: ROOST_DATABASE_STARTUP_WAIT_SECONDS
  value: {{ $v.database.startupWaitSeconds | quote }}
{{- end }}
{{- if has "redis" .needs }}
- name: ROOST_REDIS_URL_FILE
  value: /var/run/secrets/roost/redis/{{ $v.redis.urlKey }}
{{- end }}
{{- if has "app" .needs }}
- name: ROOST_JWT_SECRET_FILE
  value: /var/run/secrets/roost/app/{{ $v.secrets.jwtSecretKey }}
{{- if $v.secrets.adminTokenKey }}
- name: ROOST_ADMIN_TOKEN_FILE
  value: /var/run/secrets/roost/app/{{ $v.secrets.adminTokenKey }}
{{- end }}
- name: ROOST_HTTP_WORKERS
  value: {{ $v.api.httpWorkers | quote }}
- name: ROOST_HASH_WORKERS
  value: {{ $v.api.hashWorkers | quote }}
{{- if or $v.ingress.enabled $v.httpRoute.enabled }}
# Behind the ingress or Gateway: the client is the address it appended (login and
# registration throttling per client).
- name: ROOST_TRUST_FORWARDED_FOR
  value: "true"
{{- end }}
{{- end }}
- name: ROOST_LOG_FORMAT
  value: json
{{- range $name, $value := $v.settings }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}

{{/* The secret files: only the keys the binaries read (never the CA's private key). */}}
{{- define "roost.secretVolumes" -}}
{{- $v := .root.Values -}}
{{- if has "app" .needs }}
- name: app-secrets
  secret:
    secretName: {{ required "secrets.existingSecret is required: a Secret with the JWT key and the admin token" $v.secrets.existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ $v.secrets.jwtSecretKey }}
        path: {{ $v.secrets.jwtSecretKey }}
      {{- if $v.secrets.adminTokenKey }}
      - key: {{ $v.secrets.adminTokenKey }}
        path: {{ $v.secrets.adminTokenKey }}
      {{- end }}
{{- end }}
{{- if has "database" .needs }}
- name: database
  secret:
    secretName: {{ include "roost.databaseSecret" .root }}
    defaultMode: 0440
    items:
      - key: {{ $v.database.urlKey }}
        path: {{ $v.database.urlKey }}
{{- if include "roost.databaseCaSecret" .root }}
- name: postgres-ca
  secret:
    secretName: {{ include "roost.databaseCaSecret" .root }}
    defaultMode: 0440
    items:
      - key: ca.crt
        path: ca.crt
{{- end }}
{{- end }}
{{- if has "redis" .needs }}
- name: redis
  secret:
    secretName: {{ required "redis.existingSecret is required: a Secret with the Redis URL" $v.redis.existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ $v.redis.urlKey }}
        path: {{ $v.redis.urlKey }}
{{- end }}
- name: tmp
  emptyDir:
    sizeLimit: 16Mi
{{- end -}}

{{- define "roost.secretMounts" -}}
{{- if has "app" .needs }}
- name: app-secrets
  mountPath: /var/run/secrets/roost/app
  readOnly: true
{{- end }}
{{- if has "database" .needs }}
- name: database
  mountPath: /var/run/secrets/roost/database
  readOnly: true
{{- if include "roost.databaseCaSecret" .root }}
- name: postgres-ca
  mountPath: /var/run/secrets/roost/postgres-ca
  readOnly: true
{{- end }}
{{- end }}
{{- if has "redis" .needs }}
- name: redis
  mountPath: /var/run/secrets/roost/redis
  readOnly: true
{{- end }}
- name: tmp
  mountPath: /tmp
{{- end -}}

{{/* Fails the render on a mode it does not know (a typo must not drop migrations). */}}
{{- define "roost.checkModes" -}}
{{- if not (has .Values.migrations.mode (list "auto" "hook" "initContainer")) -}}
{{- fail (printf "migrations.mode must be auto, hook or initContainer (got %q)" .Values.migrations.mode) -}}
{{- end -}}
{{- if not (has .Values.database.mode (list "cnpg" "external")) -}}
{{- fail (printf "database.mode must be cnpg or external (got %q)" .Values.database.mode) -}}
{{- end -}}
{{- if not (has .Values.redis.mode (list "statefulset" "external")) -}}
{{- fail (printf "redis.mode must be statefulset or external (got %q)" .Values.redis.mode) -}}
{{- end -}}
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
    {{- if .Values.networkPolicy.dns.to }}
    {{- toYaml .Values.networkPolicy.dns.to | nindent 4 }}
    {{- else }}
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: kube-system
      podSelector:
        matchLabels:
          k8s-app: kube-dns
    {{- end }}
  ports:
    - {protocol: UDP, port: 53}
    - {protocol: TCP, port: 53}
# PostgreSQL
- ports:
    - {protocol: TCP, port: {{ .Values.networkPolicy.postgres.port }}}
  {{- if .Values.networkPolicy.postgres.to }}
  to:
    {{- toYaml .Values.networkPolicy.postgres.to | nindent 4 }}
  {{- else if eq .Values.database.mode "cnpg" }}
  to:
    - podSelector:
        matchLabels:
          cnpg.io/cluster: {{ include "roost.dbCluster" . }}
  {{- end }}
{{- with .Values.networkPolicy.extraEgress }}
# networkPolicy.extraEgress
{{ toYaml . }}
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

{{/* Egress to Redis: the chart's Redis, the configured peers, or any destination on the port. */}}
{{- define "roost.egressRedis" -}}
- ports:
    - {protocol: TCP, port: {{ .Values.networkPolicy.redis.port }}}
  {{- if .Values.networkPolicy.redis.to }}
  to:
    {{- toYaml .Values.networkPolicy.redis.to | nindent 4 }}
  {{- else if eq .Values.redis.mode "statefulset" }}
  to:
    - podSelector:
        matchLabels:
          {{- include "roost.selector" (dict "root" . "component" "redis") | nindent 10 }}
  {{- end -}}
{{- end -}}

{{/* Where KEDA reads the stream's lag: the chart's Redis by its full DNS name (KEDA resolves
     names from its own namespace), or the configured address. */}}
{{- define "roost.kedaRedisAddress" -}}
{{- if .Values.keda.redisAddress -}}
{{ .Values.keda.redisAddress }}
{{- else if eq .Values.redis.mode "statefulset" -}}
{{ include "roost.fullname" . }}-redis.{{ .Release.Namespace }}.svc:6379
{{- else -}}
{{ fail "keda.redisAddress is required with an external Redis" }}
{{- end -}}
{{- end -}}
