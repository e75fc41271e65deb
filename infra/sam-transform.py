"""Prints template.yaml after the SAM transform, as CloudFormation JSON, without AWS access.

cfn-lint run on a SAM template skips some checks on what the transform generates (circular
dependencies through the generated resources, IAM action names in inline function policies), so
infra/check-template.sh also lints this output. Local CodeUri values are replaced by a
placeholder S3 location, as `sam package` would do.

Usage: .local/venv/bin/python infra/sam-transform.py template.yaml > out.json
"""

import json
import os
import sys

from cfnlint.decode import decode
from samtranslator.translator.transform import transform


class NoManagedPolicies:
    """The template names no AWS managed policies, so nothing needs looking up."""

    def load(self):
        return {}


def main(path: str) -> int:
    os.environ.setdefault("AWS_DEFAULT_REGION", "ap-northeast-1")
    template, matches = decode(path)
    if matches:
        for m in matches:
            print(m, file=sys.stderr)
        return 1
    template = json.loads(json.dumps(template, default=str))
    for resource in template.get("Resources", {}).values():
        props = resource.get("Properties") or {}
        if resource.get("Type") in ("AWS::Serverless::Function", "AWS::Serverless::LayerVersion"):
            for key in ("CodeUri", "ContentUri"):
                if isinstance(props.get(key), str) and not props[key].startswith("s3://"):
                    props[key] = "s3://tsunagu-build-artifacts/placeholder.zip"
    out = transform(template, {}, NoManagedPolicies())
    json.dump(out, sys.stdout, indent=1, sort_keys=False)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "template.yaml"))
