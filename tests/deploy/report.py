"""Print the deploy wiring and the built artifacts.

    .venv/bin/python -m tests.deploy.report      # transformed authorizer, .aws-sam/build
    .venv/bin/python -m tests.deploy.report --build-dir DIR   # another `sam build`

Run `make build` first for the artifact listing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tests.deploy.samtemplate import (
    BUILT_ARTIFACTS,
    ROOT,
    artifact_report,
    authorizer_settings,
    transform_template,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", type=Path, default=ROOT / ".aws-sam" / "build")
    args = parser.parse_args(argv)

    print("== transformed template (samtranslator, default parameters): authorizer wiring")
    print(authorizer_settings(transform_template()))
    print()
    print(f"== artifacts in {args.build_dir}")
    artifacts = {lid: args.build_dir / path for lid, path in BUILT_ARTIFACTS.items()}
    missing = [lid for lid, artifact in artifacts.items() if not artifact.is_dir()]
    if missing:
        print(f"not built: {', '.join(missing)} (run `make build`)")
        return 1
    for artifact in artifacts.values():
        print(artifact_report(artifact))
    return 0


if __name__ == "__main__":
    sys.exit(main())
