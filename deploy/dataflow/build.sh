#!/usr/bin/env bash
# Build the pileprep image (worker SDK container + Flex Template launcher, deploy/dataflow/Dockerfile)
# and the Flex Template spec file in GCS.
#
#   PROJECT=my-project REGION=us-central1 BUCKET=my-bucket deploy/dataflow/build.sh
#
# Needs: gcloud (authenticated), python3 with setuptools>=68 (builds our wheel offline), and either
# Cloud Build (BUILDER=cloudbuild, default: no local Docker engine needed) or a local Docker engine
# (BUILDER=docker). One-time setup is in deploy/dataflow/README.md.
# Prints the IMAGE and TEMPLATE to give to launch.sh.
set -euo pipefail

PROJECT="${PROJECT:?set PROJECT}"
REGION="${REGION:-us-central1}"
BUCKET="${BUCKET:?set BUCKET (no gs:// prefix)}"
REPOSITORY="${REPOSITORY:-pileprep}"                 # Artifact Registry Docker repository
TAG="${TAG:-$(date -u +%Y%m%d-%H%M%S)}"
IMAGE="${IMAGE:-${REGION}-docker.pkg.dev/${PROJECT}/${REPOSITORY}/pileprep:${TAG}}"
TEMPLATE="${TEMPLATE:-gs://${BUCKET}/templates/pileprep-${TAG}.json}"
BEAM_VERSION="${BEAM_VERSION:-2.77.0}"               # must equal the Beam in pyproject/your launcher
LAUNCHER_TAG="${LAUNCHER_TAG:-latest}"               # pin a dated tag of python311-template-launcher-base
BUILDER="${BUILDER:-cloudbuild}"                     # cloudbuild | docker

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CONTEXT="$(mktemp -d)"
trap 'rm -rf "$CONTEXT"' EXIT

# 1. The build context: our wheel, the entry point, the submit-only wrapper, the Dockerfile.
"$HERE/../wheel.sh" "$CONTEXT/wheels" >/dev/null
rm -f "$CONTEXT"/wheels/*.tar.gz                     # the image installs the wheel
cp "$HERE/Dockerfile" "$HERE/main.py" "$HERE/../submit.py" "$CONTEXT/"

# 2. The image.
case "$BUILDER" in
  cloudbuild)
    cat >"$CONTEXT/cloudbuild.yaml" <<EOF
steps:
- name: gcr.io/cloud-builders/docker
  args: [build, --build-arg, BEAM_VERSION=${BEAM_VERSION}, --build-arg, LAUNCHER_TAG=${LAUNCHER_TAG}, -t, '${IMAGE}', .]
images: ['${IMAGE}']
EOF
    gcloud builds submit "$CONTEXT" --project "$PROJECT" --region "$REGION" \
      --config "$CONTEXT/cloudbuild.yaml"
    ;;
  docker)
    docker build --build-arg "BEAM_VERSION=${BEAM_VERSION}" --build-arg "LAUNCHER_TAG=${LAUNCHER_TAG}" \
      -t "$IMAGE" "$CONTEXT"
    docker push "$IMAGE"
    ;;
  *) echo "BUILDER must be cloudbuild or docker, got $BUILDER" >&2; exit 2 ;;
esac

# 3. The template spec: points at the image, carries our parameters (metadata.json).
gcloud dataflow flex-template build "$TEMPLATE" \
  --project "$PROJECT" \
  --image "$IMAGE" \
  --sdk-language PYTHON \
  --metadata-file "$HERE/metadata.json"

echo "IMAGE=$IMAGE"
echo "TEMPLATE=$TEMPLATE"
