{{/* Names ------------------------------------------------------------------------------------------ */}}
{{- define "agora.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "agora.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "agora.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "agora.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* <fullname>-<component>; call with (dict "root" $ "component" "users") */}}
{{- define "agora.componentName" -}}
{{- printf "%s-%s" (include "agora.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "agora.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: agora
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
{{ include "agora.selectorLabels" . }}
{{- end -}}

{{- define "agora.selectorLabels" -}}
app.kubernetes.io/name: {{ include "agora.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "agora.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "agora.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "agora.secretName" -}}
{{- default (printf "%s-secrets" (include "agora.fullname" .)) .Values.secrets.existingSecret -}}
{{- end -}}

{{/* Image reference; call with (dict "root" $ "name" "users") */}}
{{- define "agora.image" -}}
{{- $img := .root.Values.image -}}
{{- $repo := printf "%s/%s%s" $img.registry $img.prefix .name -}}
{{- $digest := index $img.digests .name | default "" -}}
{{- if $digest -}}
{{- printf "%s@%s" $repo $digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (default .root.Chart.AppVersion $img.tag) -}}
{{- end -}}
{{- end -}}

{{/* Environment shared by every Agora process; call with (dict "root" $ "service" "users") */}}
{{- define "agora.env" -}}
- name: AGORA_SERVICE_NAME
  value: {{ .service | quote }}
- name: AGORA_SHUTDOWN_BUDGET_S
  value: {{ .root.Values.shutdown.lifespanSeconds | quote }}
- name: AGORA_MONGO_DB
  value: {{ printf "%s%s" .root.Values.config.mongoDatabasePrefix .service | quote }}
- name: AGORA_JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "agora.secretName" .root }}
      key: {{ .root.Values.secrets.keys.jwtSecret }}
- name: AGORA_MONGO_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "agora.secretName" .root }}
      key: {{ .root.Values.secrets.keys.mongoUrl }}
- name: AGORA_ELASTICSEARCH_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "agora.secretName" .root }}
      key: {{ .root.Values.secrets.keys.elasticsearchUrl }}
{{- if hasPrefix "SASL" .root.Values.config.kafkaSecurityProtocol }}
- name: AGORA_KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ include "agora.secretName" .root }}
      key: {{ .root.Values.secrets.keys.kafkaUsername }}
- name: AGORA_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "agora.secretName" .root }}
      key: {{ .root.Values.secrets.keys.kafkaPassword }}
{{- end }}
{{- if eq .service "points" }}
- name: AGORA_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "agora.secretName" .root }}
      key: {{ .root.Values.secrets.keys.redisUrl }}
{{- end }}
{{- if eq .service "users" }}
{{- $hc := .root.Values.services.users.humanCheck }}
- name: AGORA_HUMAN_CHECK
  value: {{ $hc.mode | quote }}
{{- if eq $hc.mode "siteverify" }}
- name: AGORA_HUMAN_CHECK_URL
  value: {{ required "services.users.humanCheck.url is required with mode siteverify" $hc.url | quote }}
- name: AGORA_HUMAN_CHECK_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "agora.secretName" .root }}
      key: {{ .root.Values.secrets.keys.humanCheckSecret }}
{{- end }}
{{- with $hc.siteKey }}
- name: AGORA_HUMAN_CHECK_SITE_KEY
  value: {{ . | quote }}
{{- end }}
{{- with $hc.timeoutSeconds }}
- name: AGORA_HUMAN_CHECK_TIMEOUT_SECONDS
  value: {{ . | quote }}
{{- end }}
{{- $mail := .root.Values.services.users.mail }}
{{- if $mail.enabled }}
- name: AGORA_MAIL_ENABLED
  value: "true"
- name: AGORA_MAIL_SMTP_HOST
  value: {{ required "services.users.mail.smtpHost is required with mail enabled" $mail.smtpHost | quote }}
- name: AGORA_MAIL_SMTP_PORT
  value: {{ $mail.smtpPort | quote }}
- name: AGORA_MAIL_SMTP_SECURITY
  value: {{ $mail.security | quote }}
- name: AGORA_MAIL_FROM
  value: {{ required "services.users.mail.from is required with mail enabled" $mail.from | quote }}
{{- with $mail.timeoutSeconds }}
- name: AGORA_MAIL_SMTP_TIMEOUT_SECONDS
  value: {{ . | quote }}
{{- end }}
{{- with $mail.maxAgeHours }}
- name: AGORA_MAIL_MAX_AGE_HOURS
  value: {{ . | quote }}
{{- end }}
{{- with $mail.username }}
- name: AGORA_MAIL_SMTP_USERNAME
  value: {{ . | quote }}
- name: AGORA_MAIL_SMTP_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "agora.secretName" $.root }}
      key: {{ $.root.Values.secrets.keys.mailSmtpPassword }}
{{- end }}
{{- end }}
{{- end }}
{{- if eq .service "events" }}
- name: AGORA_CERT_SIGNING_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "agora.secretName" .root }}
      key: {{ .root.Values.secrets.keys.certSigningKey }}
{{- end }}
{{- range $k, $v := .env }}
- name: {{ $k }}
  value: {{ $v | quote }}
{{- end }}
{{- end -}}

{{/* Pod-level settings shared by every workload */}}
{{- define "agora.podSpecCommon" -}}
serviceAccountName: {{ include "agora.serviceAccountName" . }}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "agora.enabledServices" -}}
{{- $names := list -}}
{{- range $name, $svc := .Values.services -}}
{{- if $svc.enabled -}}{{- $names = append $names $name -}}{{- end -}}
{{- end -}}
{{- join "," $names -}}
{{- end -}}

{{/* The shutdown budget of a Python service's pod: its grace period is the sum of the steps and a margin. */}}
{{- define "agora.terminationGracePeriod" -}}
{{- $s := .Values.shutdown -}}
{{- add $s.preStopSeconds $s.drainSeconds $s.lifespanSeconds $s.marginSeconds -}}
{{- end }}


{{/* The trusted CA certificates (values trustedCAs), mounted under /etc/agora/ca/<engine>/ */}}
{{- define "agora.caMounts" -}}
{{- range $engine, $secret := .Values.trustedCAs }}
- name: ca-{{ $engine }}
  mountPath: /etc/agora/ca/{{ $engine }}
  readOnly: true
{{- end }}
{{- end -}}

{{- define "agora.caVolumes" -}}
{{- range $engine, $secret := .Values.trustedCAs }}
- name: ca-{{ $engine }}
  secret:
    secretName: {{ $secret }}
    items:
      - {key: ca.crt, path: ca.crt}
{{- end }}
{{- end -}}
