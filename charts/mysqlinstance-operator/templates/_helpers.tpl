{{/* The release's objects are named after the release, or after the chart when the release name contains it. */}}
{{- define "myi.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels of the pods, also the selector of the Deployment, the PodDisruptionBudget, the Service and the NetworkPolicy. */}}
{{- define "myi.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels of every object. */}}
{{- define "myi.labels" -}}
{{ include "myi.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: mysqlinstance-operator
{{- end -}}

{{- define "myi.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "myi.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "myi.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* What the operator may do with the objects it watches and owns: least privilege, the same in both RBAC modes. */}}
{{- define "myi.rules" -}}
# The instances it reconciles, and their status.
- apiGroups: ["mysqlinstance.io"]
  resources: ["mysqlinstances"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["mysqlinstance.io"]
  resources: ["mysqlinstances/status"]
  verbs: ["get", "patch"]
# Children applied with server-side apply.
- apiGroups: ["apps"]
  resources: ["statefulsets"]
  verbs: ["get", "list", "watch", "create", "patch"]
- apiGroups: [""]
  resources: ["services", "configmaps"]
  verbs: ["get", "list", "watch", "create", "patch"]
# Backups: the CronJob is deleted when backups are turned off. Jobs: backup Jobs are read, the one restore
# Job of a new instance is created (never updated or deleted).
- apiGroups: ["batch"]
  resources: ["cronjobs"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "list", "watch", "create", "patch"]
# Credentials: read by name, created once, then only their owner references change. Never listed or
# watched (that would expose every Secret in the cluster), never updated, never deleted.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "create", "patch"]
# Data volumes grow; the backup volume is created. Watched (by label) so reconciles read a cache.
- apiGroups: [""]
  resources: ["persistentvolumeclaims"]
  verbs: ["get", "list", "watch", "create", "patch"]
# Backup and restore results come from the termination messages of runner pods; the kubelet's waiting
# reasons (an image that cannot be pulled, a crash loop) of any pod of an instance go into its conditions.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end -}}

{{/* SERVER_IMAGES: VERSION=IMAGE pairs, comma-separated, in version order. */}}
{{- define "myi.serverImages" -}}
{{- $pairs := list -}}
{{- range $version, $image := . -}}
{{- $pairs = append $pairs (printf "%s=%s" $version $image) -}}
{{- end -}}
{{- join "," $pairs -}}
{{- end -}}
