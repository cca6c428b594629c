#!/bin/bash
# Init container of the Elasticsearch nodes: the image's config directory (jvm.options,
# log4j2.properties) copied to the pod's writable one, with the role's elasticsearch.yml and
# this node's zone appended as node.attr.zone (shard allocation awareness). NODE_ZONE is the
# pod's topology.kubernetes.io/zone label (downward API), which the API server copies from the
# node when the pod is bound; without one the node is in the zone named by ZONE_UNLABELLED.
# The directories come from the pod spec: the image's config, the ConfigMap, the emptyDir.
set -euo pipefail
image_config=${ES_IMAGE_CONFIG:?ES_IMAGE_CONFIG is not set}
template=${ES_CONFIG_TEMPLATE:?ES_CONFIG_TEMPLATE is not set}
config=${ES_CONFIG_DIR:?ES_CONFIG_DIR is not set}
cp -a "$image_config/." "$config/"
cp "$template/elasticsearch.yml" "$config/elasticsearch.yml"
zone=${NODE_ZONE:-}
if [ -z "$zone" ]; then
  zone=${ZONE_UNLABELLED:?ZONE_UNLABELLED is not set}
  echo "this pod has no topology.kubernetes.io/zone label (its node has none, or the API server's PodTopologyLabels admission is off): node.attr.zone is $zone"
fi
# A label value: at most 63 characters of letters, digits, '-', '_' and '.', alphanumeric at both ends.
if ! [[ $zone =~ ^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$ ]]; then
  echo "the zone '$zone' is not a label value" >&2
  exit 1
fi
printf '\nnode.attr.zone: "%s"\n' "$zone" >>"$config/elasticsearch.yml"
echo "node.attr.zone: $zone"
