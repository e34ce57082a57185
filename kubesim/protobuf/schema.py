"""Schemas of the built-in messages kubesim decodes, written from Kubernetes' wire format.

Each entry is "number jsonName type" separated by commas. Types: ``s`` string, ``b`` bool,
``i`` int32/int64, ``y`` bytes, ``t`` Time, ``q`` Quantity, ``n`` IntOrString, ``r`` a raw
JSON extension, ``m`` / ``mb`` / ``mq`` maps from string to string / bytes / Quantity, or a
message name. A leading ``*`` marks a repeated field, a trailing ``!`` a pointer field whose
zero value is kept; the JSON name ``-`` an embedded struct whose fields the parent's JSON
carries. Only the fields kubesim models are listed; the
rest of a message is skipped when decoding.
"""

from __future__ import annotations

from kubesim.protobuf.wire import Field

_META = {
    "ObjectMeta": "1 name s, 2 generateName s, 3 namespace s, 5 uid s, 6 resourceVersion s, "
    "7 generation i, 8 creationTimestamp t, 9 deletionTimestamp t, "
    "10 deletionGracePeriodSeconds i!, 11 labels m, 12 annotations m, "
    "13 ownerReferences *OwnerReference, 14 finalizers *s",
    "OwnerReference": "1 kind s, 3 name s, 4 uid s, 5 apiVersion s, 6 controller b!, "
    "7 blockOwnerDeletion b!",
    "LabelSelector": "1 matchLabels m, 2 matchExpressions *LabelSelectorRequirement",
    "LabelSelectorRequirement": "1 key s, 2 operator s, 3 values *s",
    "TypeMeta": "1 apiVersion s, 2 kind s",
    "DeleteOptions": "1 gracePeriodSeconds i!, 2 preconditions Preconditions, "
    "3 orphanDependents b!, 4 propagationPolicy s, 5 dryRun *s",
    "Preconditions": "1 uid s, 2 resourceVersion s",
}

_CORE = {
    "Namespace": "1 metadata ObjectMeta, 2 spec NamespaceSpec",
    "NamespaceSpec": "1 finalizers *s",
    "Pod": "1 metadata ObjectMeta, 2 spec PodSpec",
    "PodTemplateSpec": "1 metadata ObjectMeta, 2 spec PodSpec",
    "PodSpec": "1 volumes *Volume, 20 initContainers *Container, 2 containers *Container, "
    "3 restartPolicy s, 4 terminationGracePeriodSeconds i!, 5 activeDeadlineSeconds i!, "
    "6 dnsPolicy s, 7 nodeSelector m, 8 serviceAccountName s, 9 serviceAccount s, "
    "21 automountServiceAccountToken b!, 10 nodeName s, 11 hostNetwork b, "
    "14 securityContext PodSecurityContext, 15 imagePullSecrets *LocalObjectReference, "
    "16 hostname s, 17 subdomain s, 18 affinity Affinity, 19 schedulerName s, "
    "22 tolerations *Toleration, 24 priorityClassName s, 25 priority i!, "
    "30 enableServiceLinks b!, 31 preemptionPolicy s",
    "Container": "1 name s, 2 image s, 3 command *s, 4 args *s, 5 workingDir s, "
    "6 ports *ContainerPort, 19 envFrom *EnvFromSource, 7 env *EnvVar, "
    "8 resources ResourceRequirements, 24 restartPolicy s, 9 volumeMounts *VolumeMount, "
    "10 livenessProbe Probe, 11 readinessProbe Probe, 22 startupProbe Probe, "
    "12 lifecycle Lifecycle, 13 terminationMessagePath s, 20 terminationMessagePolicy s, "
    "14 imagePullPolicy s, 15 securityContext SecurityContext, 16 stdin b, 17 stdinOnce b, "
    "18 tty b",
    "ContainerPort": "1 name s, 2 hostPort i, 3 containerPort i, 4 protocol s, 5 hostIP s",
    "EnvVar": "1 name s, 2 value s, 3 valueFrom EnvVarSource",
    "EnvVarSource": "1 fieldRef ObjectFieldSelector, 2 resourceFieldRef ResourceFieldSelector, "
    "3 configMapKeyRef ConfigMapKeySelector, 4 secretKeyRef SecretKeySelector",
    "EnvFromSource": "1 prefix s, 2 configMapRef ConfigMapEnvSource, 3 secretRef SecretEnvSource",
    "ConfigMapEnvSource": "1 - LocalObjectReference, 2 optional b!",
    "SecretEnvSource": "1 - LocalObjectReference, 2 optional b!",
    "ConfigMapKeySelector": "1 - LocalObjectReference, 2 key s, 3 optional b!",
    "SecretKeySelector": "1 - LocalObjectReference, 2 key s, 3 optional b!",
    "ObjectFieldSelector": "1 apiVersion s, 2 fieldPath s",
    "ResourceFieldSelector": "1 containerName s, 2 resource s, 3 divisor q",
    "LocalObjectReference": "1 name s",
    "ResourceRequirements": "1 limits mq, 2 requests mq",
    "VolumeMount": "1 name s, 2 readOnly b, 3 mountPath s, 4 subPath s, "
    "5 mountPropagation s, 6 subPathExpr s",
    "Volume": "1 name s, 2 - VolumeSource",
    "VolumeSource": "1 hostPath HostPathVolumeSource, 2 emptyDir EmptyDirVolumeSource, "
    "6 secret SecretVolumeSource, 10 persistentVolumeClaim PersistentVolumeClaimVolumeSource, "
    "19 configMap ConfigMapVolumeSource",
    "HostPathVolumeSource": "1 path s, 2 type s",
    "EmptyDirVolumeSource": "1 medium s, 2 sizeLimit q",
    "SecretVolumeSource": "1 secretName s, 2 items *KeyToPath, 3 defaultMode i!, 4 optional b!",
    "ConfigMapVolumeSource": "1 - LocalObjectReference, 2 items *KeyToPath, 3 defaultMode i!, "
    "4 optional b!",
    "PersistentVolumeClaimVolumeSource": "1 claimName s, 2 readOnly b",
    "KeyToPath": "1 key s, 2 path s, 3 mode i!",
    "Probe": "1 - ProbeHandler, 2 initialDelaySeconds i, 3 timeoutSeconds i, "
    "4 periodSeconds i, 5 successThreshold i, 6 failureThreshold i",
    "ProbeHandler": "1 exec ExecAction, 2 httpGet HTTPGetAction, 3 tcpSocket TCPSocketAction",
    "Lifecycle": "1 postStart ProbeHandler, 2 preStop ProbeHandler",
    "ExecAction": "1 command *s",
    "HTTPGetAction": "1 path s, 2 port n, 3 host s, 4 scheme s, 5 httpHeaders *HTTPHeader",
    "HTTPHeader": "1 name s, 2 value s",
    "TCPSocketAction": "1 port n, 2 host s",
    "SecurityContext": "1 capabilities Capabilities, 2 privileged b!, 4 runAsUser i!, "
    "8 runAsGroup i!, 5 runAsNonRoot b!, 6 readOnlyRootFilesystem b!, "
    "7 allowPrivilegeEscalation b!",
    "Capabilities": "1 add *s, 2 drop *s",
    "PodSecurityContext": "2 runAsUser i!, 6 runAsGroup i!, 3 runAsNonRoot b!, "
    "4 supplementalGroups *i, 5 fsGroup i!",
    "Toleration": "1 key s, 2 operator s, 3 value s, 4 effect s, 5 tolerationSeconds i!",
    "Affinity": "1 nodeAffinity NodeAffinity",
    "NodeAffinity": "1 requiredDuringSchedulingIgnoredDuringExecution NodeSelector",
    "NodeSelector": "1 nodeSelectorTerms *NodeSelectorTerm",
    "NodeSelectorTerm": "1 matchExpressions *NodeSelectorRequirement, "
    "2 matchFields *NodeSelectorRequirement",
    "NodeSelectorRequirement": "1 key s, 2 operator s, 3 values *s",
    "ConfigMap": "1 metadata ObjectMeta, 4 immutable b!, 2 data m, 3 binaryData mb",
    "Secret": "1 metadata ObjectMeta, 5 immutable b!, 2 data mb, 4 stringData m, 3 type s",
    "Service": "1 metadata ObjectMeta, 2 spec ServiceSpec",
    "ServiceSpec": "1 ports *ServicePort, 2 selector m, 3 clusterIP s, 18 clusterIPs *s, "
    "4 type s, 5 externalIPs *s, 7 sessionAffinity s, 10 externalName s, "
    "11 externalTrafficPolicy s, 13 publishNotReadyAddresses b, 19 ipFamilies *s, "
    "17 ipFamilyPolicy s, 22 internalTrafficPolicy s",
    "ServicePort": "1 name s, 2 protocol s, 6 appProtocol s, 3 port i, 4 targetPort n, "
    "5 nodePort i",
    "ServiceAccount": "1 metadata ObjectMeta, 2 secrets *ObjectReference, "
    "3 imagePullSecrets *LocalObjectReference, 4 automountServiceAccountToken b!",
    "ObjectReference": "1 kind s, 2 namespace s, 3 name s, 4 uid s, 5 apiVersion s, "
    "6 resourceVersion s, 7 fieldPath s",
    "ResourceQuota": "1 metadata ObjectMeta, 2 spec ResourceQuotaSpec",
    "ResourceQuotaSpec": "1 hard mq, 2 scopes *s",
    "ReplicationController": "1 metadata ObjectMeta, 2 spec ReplicationControllerSpec",
    "ReplicationControllerSpec": "1 replicas i!, 4 minReadySeconds i, 2 selector m, "
    "3 template PodTemplateSpec",
    "PersistentVolumeClaim": "1 metadata ObjectMeta, 2 spec PersistentVolumeClaimSpec",
    "PersistentVolumeClaimSpec": "1 accessModes *s, 4 selector LabelSelector, "
    "2 resources VolumeResourceRequirements, 3 volumeName s, 5 storageClassName s, "
    "6 volumeMode s",
    "VolumeResourceRequirements": "1 limits mq, 2 requests mq",
}

_GROUPS = {
    "Deployment": "1 metadata ObjectMeta, 2 spec DeploymentSpec",
    "DeploymentSpec": "1 replicas i!, 2 selector LabelSelector, 3 template PodTemplateSpec, "
    "4 strategy DeploymentStrategy, 5 minReadySeconds i, 6 revisionHistoryLimit i!, "
    "7 paused b, 9 progressDeadlineSeconds i!",
    "DeploymentStrategy": "1 type s, 2 rollingUpdate RollingUpdate",
    "RollingUpdate": "1 maxUnavailable n, 2 maxSurge n",
    "ReplicaSet": "1 metadata ObjectMeta, 2 spec ReplicaSetSpec",
    "ReplicaSetSpec": "1 replicas i!, 4 minReadySeconds i, 2 selector LabelSelector, "
    "3 template PodTemplateSpec",
    "DaemonSet": "1 metadata ObjectMeta, 2 spec DaemonSetSpec",
    "DaemonSetSpec": "1 selector LabelSelector, 2 template PodTemplateSpec, "
    "3 updateStrategy DaemonSetUpdateStrategy, 4 minReadySeconds i, 6 revisionHistoryLimit i!",
    "DaemonSetUpdateStrategy": "1 type s, 2 rollingUpdate RollingUpdate",
    "StatefulSet": "1 metadata ObjectMeta, 2 spec StatefulSetSpec",
    "StatefulSetSpec": "1 replicas i!, 2 selector LabelSelector, 3 template PodTemplateSpec, "
    "4 volumeClaimTemplates *PersistentVolumeClaim, 5 serviceName s, "
    "6 podManagementPolicy s, 7 updateStrategy StatefulSetUpdateStrategy, "
    "8 revisionHistoryLimit i!, 9 minReadySeconds i",
    "StatefulSetUpdateStrategy": "1 type s, 2 rollingUpdate StatefulSetRollingUpdate",
    "StatefulSetRollingUpdate": "1 partition i!, 2 maxUnavailable n",
    "Job": "1 metadata ObjectMeta, 2 spec JobSpec",
    "JobSpec": "1 parallelism i!, 2 completions i!, 3 activeDeadlineSeconds i!, 7 backoffLimit i!, "
    "4 selector LabelSelector, 5 manualSelector b!, 6 template PodTemplateSpec, "
    "8 ttlSecondsAfterFinished i!, 9 completionMode s, 10 suspend b!",
    "CronJob": "1 metadata ObjectMeta, 2 spec CronJobSpec",
    "CronJobSpec": "1 schedule s, 8 timeZone s, 2 startingDeadlineSeconds i!, "
    "3 concurrencyPolicy s, 4 suspend b!, 5 jobTemplate JobTemplateSpec, "
    "6 successfulJobsHistoryLimit i!, 7 failedJobsHistoryLimit i!",
    "JobTemplateSpec": "1 metadata ObjectMeta, 2 spec JobSpec",
    "Role": "1 metadata ObjectMeta, 2 rules *PolicyRule",
    "ClusterRole": "1 metadata ObjectMeta, 2 rules *PolicyRule, 3 aggregationRule AggregationRule",
    "AggregationRule": "1 clusterRoleSelectors *LabelSelector",
    "PolicyRule": "1 verbs *s, 2 apiGroups *s, 3 resources *s, 4 resourceNames *s, "
    "5 nonResourceURLs *s",
    "RoleBinding": "1 metadata ObjectMeta, 2 subjects *Subject, 3 roleRef RoleRef",
    "ClusterRoleBinding": "1 metadata ObjectMeta, 2 subjects *Subject, 3 roleRef RoleRef",
    "Subject": "1 kind s, 2 apiGroup s, 3 name s, 4 namespace s",
    "RoleRef": "1 apiGroup s, 2 kind s, 3 name s",
    "SelfSubjectAccessReview": "1 metadata ObjectMeta, 2 spec SelfSubjectAccessReviewSpec",
    "SelfSubjectAccessReviewSpec": "1 resourceAttributes ResourceAttributes, "
    "2 nonResourceAttributes NonResourceAttributes",
    "ResourceAttributes": "1 namespace s, 2 verb s, 3 group s, 4 version s, 5 resource s, "
    "6 subresource s, 7 name s",
    "NonResourceAttributes": "1 path s, 2 verb s",
    "SelfSubjectRulesReview": "1 metadata ObjectMeta, 2 spec SelfSubjectRulesReviewSpec",
    "SelfSubjectRulesReviewSpec": "1 namespace s",
    "TokenRequest": "1 metadata ObjectMeta, 2 spec TokenRequestSpec",
    "TokenRequestSpec": "1 audiences *s, 4 expirationSeconds i!, "
    "3 boundObjectRef BoundObjectReference",
    "BoundObjectReference": "1 kind s, 2 apiVersion s, 3 name s, 4 uid s",
    "PriorityClass": "1 metadata ObjectMeta, 2 value i, 3 globalDefault b, 4 description s, "
    "5 preemptionPolicy s",
    "Scale": "1 metadata ObjectMeta, 2 spec ScaleSpec",
    "ScaleSpec": "1 replicas i",
    "PodDisruptionBudget": "1 metadata ObjectMeta, 2 spec PodDisruptionBudgetSpec",
    "PodDisruptionBudgetSpec": "1 minAvailable n, 2 selector LabelSelector, "
    "3 maxUnavailable n, 4 unhealthyPodEvictionPolicy s",
    "Lease": "1 metadata ObjectMeta, 2 spec LeaseSpec",
    "LeaseSpec": "1 holderIdentity s, 2 leaseDurationSeconds i!, 3 acquireTime t, "
    "4 renewTime t, 5 leaseTransitions i!",
}


def _parse(spec: str) -> dict[int, Field]:
    out: dict[int, Field] = {}
    for item in spec.split(","):
        number, name, type_code = item.split()
        repeated, keep = type_code.startswith("*"), type_code.endswith("!")
        out[int(number)] = Field(name, type_code.strip("*!"), repeated, name == "-", keep)
    return out


#: Messages of ``k8s.io/apimachinery``'s meta/v1 and of the core group (the rest belong to
#: the group of the kind that holds them); the OpenAPI documents name them by package.
META_MESSAGES = frozenset(_META)
CORE_MESSAGES = frozenset(_CORE)

SCHEMAS: dict[str, dict[int, Field]] = {
    name: _parse(spec) for table in (_META, _CORE, _GROUPS) for name, spec in table.items()
}
