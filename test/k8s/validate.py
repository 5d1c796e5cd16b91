"""Validates Kubernetes objects against the upstream API schemas.

Reads JSON from stdin:
    {"versions": ["1.30.0", "latest"], "documents": [{"id": "...", "object": {...}}]}
and writes JSON to stdout:
    {"results": [{"id", "version", "ok", "error", "path"}, ...]}
one result per document and version.

Uses kubernetes-validate in strict mode: the JSON schemas generated from the
Kubernetes OpenAPI document, with additionalProperties false, so unknown
fields fail like `kubectl apply --validate=strict` does.
"""

import json
import sys

import kubernetes_validate
from kubernetes_validate.utils import VersionNotSupportedError


def check(obj, version):
    try:
        kubernetes_validate.validate(obj, version, strict=True)
        return {"ok": True, "error": None, "path": None}
    except kubernetes_validate.ValidationError as err:
        path = "/".join(str(p) for p in err.absolute_path)
        return {"ok": False, "error": err.message, "path": path}
    except (kubernetes_validate.SchemaNotFoundError,
            kubernetes_validate.InvalidSchemaError,
            VersionNotSupportedError) as err:
        return {"ok": False, "error": err.message, "path": None}


def main():
    request = json.load(sys.stdin)
    results = []
    for version in request["versions"]:
        if version == "latest":
            version = kubernetes_validate.latest_version()
        for doc in request["documents"]:
            result = check(doc["object"], version)
            result.update(id=doc["id"], version=version)
            results.append(result)
    json.dump({"results": results}, sys.stdout)


if __name__ == "__main__":
    main()
