"""A tiny stand-in training script for the code-folder sample."""

import argparse
import json
import os
import pathlib


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--model-dir", default="outputs")
    args = parser.parse_args()
    loss = 1.0
    for epoch in range(args.epochs):
        loss /= 2
        print(f"epoch {epoch + 1}/{args.epochs} loss={loss:.4f}", flush=True)
    model_dir = pathlib.Path(args.model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "model.json").write_text(
        json.dumps({"loss": loss, "job": os.environ.get("KP_JOB_ID")})
    )


if __name__ == "__main__":
    main()
