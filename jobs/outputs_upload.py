"""A job's link to its MLflow run, rendered into its main container: the MLFLOW_*
variables (so ``mlflow.start_run()`` resumes the job's run) and, when the command ends,
an upload of the files it wrote to ``outputs/`` and to its ``upload`` outputs into the
run's artifacts, so they can be browsed even when the script never called MLflow.

The upload step uses curl, or Python where the image has no curl; a failed upload is
reported in the log and never changes the command's exit code. Instances of a distributed
job other than the first upload under ``rank-<N>/``, and log metrics under
``<key>/rank-<N>`` (their token carries the rank).
"""

import shlex

TRACKING_KEY = "mlflow-token"
OUTPUTS_FOLDER = "outputs"
NAMED_OUTPUTS = "named-outputs"

_UPLOAD = r"""
kp_quote() { printf '%s' "$1" | sed 's/%/%25/g; s/ /%20/g; s/#/%23/g; s/?/%3F/g; s/+/%2B/g'; }
kp_put() {
  kp_url="$KP_ARTIFACTS_URL/$(kp_quote "$2")"
  if command -v curl >/dev/null 2>&1; then
    curl -fsS --retry 3 -X PUT -H "Authorization: Bearer $MLFLOW_TRACKING_TOKEN" \
      --data-binary @"$1" "$kp_url" >/dev/null || echo "portal: could not upload $2" >&2
  elif command -v python3 >/dev/null 2>&1; then
    python3 - "$1" "$kp_url" <<'KP_PY' || echo "portal: could not upload $2" >&2
import os, sys, urllib.request
with open(sys.argv[1], "rb") as body:
    request = urllib.request.Request(sys.argv[2], data=body, method="PUT", headers={
        "Authorization": "Bearer " + os.environ["MLFLOW_TRACKING_TOKEN"],
        "Content-Length": str(os.path.getsize(sys.argv[1]))})
    urllib.request.urlopen(request, timeout=300).close()
KP_PY
  else
    echo "portal: neither curl nor python3 in the image; outputs not uploaded" >&2
  fi
}
kp_upload() {
  [ -d "$1" ] || return 0
  (cd "$1" && find . -type f) | while IFS= read -r kp_f; do
    kp_f="${kp_f#./}"; kp_put "$1/$kp_f" "$2$kp_f"
  done
}
"""


def _env(name: str, value: str) -> dict:
    return {"name": name, "value": value}


def upload_lines(spec: dict) -> list[str]:
    """The shell lines that upload the outputs (after the command, its status kept)."""
    lines = [
        'if [ "${KP_NODE_RANK:-0}" = 0 ]; then kp_prefix=""; '
        'else kp_prefix="rank-${KP_NODE_RANK}/"; fi',
        f'kp_upload {OUTPUTS_FOLDER} "${{kp_prefix}}{OUTPUTS_FOLDER}/"',
    ]
    for name, entry in spec["outputs"].items():
        if entry.get("mode") == "upload":
            folder = shlex.quote(f"/outputs/{name}")
            lines.append(f'kp_upload {folder} "${{kp_prefix}}{NAMED_OUTPUTS}/{name}/"')
    return lines


def add_tracking(main: dict, spec: dict, tracking: dict, secret_name: str) -> None:
    """Adds the run's variables to ``main`` and wraps its command with the upload step."""
    main["env"] = [
        _env("MLFLOW_TRACKING_URI", tracking["uri"]),
        _env("MLFLOW_RUN_ID", tracking["run_id"]),
        _env("MLFLOW_EXPERIMENT_NAME", tracking["experiment"]),
        _env("KP_ARTIFACTS_URL", tracking["artifacts_url"]),
        {
            "name": "MLFLOW_TRACKING_TOKEN",
            "valueFrom": {"secretKeyRef": {"name": secret_name, "key": TRACKING_KEY}},
        },
        *main["env"],
    ]
    script = main["command"][2]
    rank = ""
    if spec["resources"]["instance_count"] > 1:
        rank = 'export MLFLOW_TRACKING_TOKEN="$MLFLOW_TRACKING_TOKEN.${KP_NODE_RANK:-0}"\n'
    main["command"] = [
        "/bin/sh",
        "-c",
        rank
        + "(\n"
        + script
        + "\n)\nkp_status=$?\n"
        + _UPLOAD.strip()
        + "\n"
        + "\n".join(upload_lines(spec))
        + "\nexit $kp_status",
    ]
