"""What the OpenAPI schemas add to the protobuf table: fields kubesim stores but does not
decode from protobuf, and short descriptions for the fields people look up most.

``EXTRA`` uses the protobuf table's notation without field numbers ("jsonName type",
comma separated; see ``kubesim.protobuf.schema``), with one more type: ``o``, an object
whose fields kubesim does not spell out (kept as sent, never reported as unknown). A
message listed in ``OPEN`` may carry fields kubesim does not know of: its unknown fields
are kept rather than reported. Every other message is closed, so strict field validation
reports fields that are not in its schema, as the API server does.
"""

from __future__ import annotations

EXTRA = {
    "ObjectMeta": "selfLink s, managedFields *o",
    "PodSpec": "hostPID b, hostIPC b, shareProcessNamespace b, readinessGates *o, "
    "runtimeClassName s, overhead mq, topologySpreadConstraints *o, "
    "ephemeralContainers *o, dnsConfig o, hostAliases *o, setHostnameAsFQDN b, os o, "
    "hostUsers b, schedulingGates *o, resourceClaims *o, resources o",
    "Container": "resizePolicy *o, volumeDevices *o",
    "ResourceRequirements": "claims *o",
    "VolumeMount": "recursiveReadOnly s",
    "VolumeSource": "gcePersistentDisk o, awsElasticBlockStore o, gitRepo o, nfs o, iscsi o, "
    "glusterfs o, rbd o, flexVolume o, cinder o, cephfs o, flocker o, downwardAPI o, fc o, "
    "azureFile o, vsphereVolume o, quobyte o, azureDisk o, photonPersistentDisk o, "
    "projected o, portworxVolume o, scaleIO o, storageos o, csi o, ephemeral o, image o",
    "Probe": "terminationGracePeriodSeconds i",
    "ProbeHandler": "grpc o, sleep o",
    "SecurityContext": "seLinuxOptions o, windowsOptions o, procMount s, seccompProfile o, "
    "appArmorProfile o",
    "PodSecurityContext": "seLinuxOptions o, windowsOptions o, fsGroupChangePolicy s, "
    "seccompProfile o, sysctls *o, appArmorProfile o, supplementalGroupsPolicy s, "
    "seLinuxChangePolicy s",
    "Affinity": "podAffinity o, podAntiAffinity o",
    "NodeAffinity": "preferredDuringSchedulingIgnoredDuringExecution *o",
    "ServiceSpec": "loadBalancerIP s, loadBalancerSourceRanges *s, healthCheckNodePort i, "
    "sessionAffinityConfig o, allocateLoadBalancerNodePorts b, loadBalancerClass s, "
    "trafficDistribution s",
    "ResourceQuotaSpec": "scopeSelector o",
    "PersistentVolumeClaimSpec": "dataSource o, dataSourceRef o, volumeAttributesClassName s",
    "StatefulSetSpec": "persistentVolumeClaimRetentionPolicy o, ordinals o",
    "JobSpec": "podFailurePolicy o, successPolicy o, backoffLimitPerIndex i, "
    "maxFailedIndexes i, podReplacementPolicy s, managedBy s",
    "LeaseSpec": "strategy s, preferredHolder s",
    "ResourceAttributes": "fieldSelector o, labelSelector o",
}

#: Messages whose fields kubesim lists only in part.
OPEN = frozenset({"DeleteOptions", "TokenRequest", "Scale"})

#: Descriptions by "Message.field" (and by message name for the message itself).
DESCRIPTIONS = {
    "apiVersion": "The versioned schema of this representation of an object.",
    "kind": "The REST resource this object represents, in CamelCase.",
    "metadata": "Standard object metadata: name, namespace, labels, annotations.",
    "spec": "The desired behaviour of the object.",
    "status": "The most recently observed state of the object, written by the system.",
    "ObjectMeta": "Metadata every persisted resource carries.",
    "ObjectMeta.name": "Unique name within a namespace; cannot be updated.",
    "ObjectMeta.namespace": "The namespace the object lives in; empty for cluster objects.",
    "ObjectMeta.labels": "String keys and values for organising and selecting objects.",
    "ObjectMeta.annotations": "Arbitrary non-identifying metadata set by tools and people.",
    "ObjectMeta.resourceVersion": "An opaque value that changes on every write of the object.",
    "ObjectMeta.generateName": "Prefix for a server-generated name when name is empty.",
    "ObjectMeta.ownerReferences": "Objects this one depends on; it is garbage collected "
    "when all of them are gone.",
    "ObjectMeta.finalizers": "Entries that must be removed before the object is deleted.",
    "Pod": "A collection of containers that run together on one node.",
    "PodSpec": "The description of a pod: its containers, volumes and scheduling.",
    "PodSpec.containers": "Containers of the pod; at least one. Cannot be updated.",
    "PodSpec.initContainers": "Containers run to completion, in order, before the others.",
    "PodSpec.volumes": "Volumes the pod's containers can mount.",
    "PodSpec.restartPolicy": "Always, OnFailure or Never. Default: Always.",
    "PodSpec.nodeSelector": "Labels a node must carry for the pod to be scheduled on it.",
    "PodSpec.nodeName": "The node the pod is bound to; set by the scheduler.",
    "PodSpec.serviceAccountName": "The service account the pod runs as.",
    "PodSpec.tolerations": "Taints the pod tolerates.",
    "PodSpec.affinity": "Scheduling constraints beyond the node selector.",
    "PodSpec.priorityClassName": "The PriorityClass whose value becomes the pod's priority.",
    "Container": "A single application container of a pod.",
    "Container.name": "Name of the container, a DNS label unique within the pod.",
    "Container.image": "Container image name.",
    "Container.command": "Entrypoint array; the image's ENTRYPOINT when not given.",
    "Container.args": "Arguments to the entrypoint; the image's CMD when not given.",
    "Container.env": "Environment variables to set in the container.",
    "Container.envFrom": "Sources (ConfigMaps, Secrets) to populate the environment from.",
    "Container.ports": "Ports the container exposes (informational).",
    "Container.resources": "Compute resources the container requests and is limited to.",
    "Container.volumeMounts": "Pod volumes to mount into the container's filesystem.",
    "Container.workingDir": "The container's working directory.",
    "Container.imagePullPolicy": "Always, Never or IfNotPresent.",
    "Container.livenessProbe": "Probe whose failure restarts the container.",
    "Container.readinessProbe": "Probe whose failure removes the pod from service endpoints.",
    "Container.securityContext": "Security options the container runs with.",
    "ResourceRequirements.limits": "The most of each compute resource allowed.",
    "ResourceRequirements.requests": "The least of each compute resource required.",
    "Deployment": "Declarative updates for Pods and ReplicaSets.",
    "DeploymentSpec.replicas": "Number of desired pods. Default: 1.",
    "DeploymentSpec.selector": "Label selector for the pods; must match the template's labels.",
    "DeploymentSpec.template": "The pods to create.",
    "DeploymentSpec.strategy": "How existing pods are replaced by new ones.",
    "Job": "A single job that runs pods to completion.",
    "JobSpec.backoffLimit": "Retries before the job is marked failed. Default: 6.",
    "JobSpec.completions": "Successful pods needed for the job to complete.",
    "JobSpec.parallelism": "Most pods running at any one time.",
    "CronJobSpec.schedule": "The schedule in Cron format.",
    "Service": "A named abstraction of software service: a port and a pod selector.",
    "ServiceSpec.selector": "Pods with these labels receive the service's traffic.",
    "ServiceSpec.ports": "The ports the service exposes.",
    "ServiceSpec.type": "ClusterIP, NodePort, LoadBalancer or ExternalName.",
    "ConfigMap.data": "Configuration data as strings.",
    "Secret.data": "Secret data, base64-encoded values.",
    "Secret.stringData": "Write-only convenience: plain string values merged into data.",
}
