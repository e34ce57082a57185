"""Trains a digit classifier on scikit-learn's bundled digits set and logs it with MLflow.

Nothing here knows about the portal: run as a job, MLFLOW_TRACKING_URI, MLFLOW_RUN_ID and
MLFLOW_TRACKING_TOKEN are set for it and ``mlflow.start_run()`` resumes the job's run; run
on a laptop with MLFLOW_TRACKING_URI=<portal>/mlflow/<workspace> and a personal token, it
makes a run of its own.
"""

import argparse
import json
import os

import mlflow
import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import accuracy_score, confusion_matrix, log_loss
from sklearn.model_selection import train_test_split


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--learning-rate", type=float, default=0.01)
    parser.add_argument("--alpha", type=float, default=0.0001)
    parser.add_argument("--log-model", action="store_true")
    args = parser.parse_args()

    digits = load_digits()
    x = digits.data / 16.0
    x_train, x_test, y_train, y_test = train_test_split(
        x, digits.target, test_size=0.25, random_state=0
    )
    classes = np.unique(digits.target)
    model = SGDClassifier(
        loss="log_loss",
        learning_rate="constant",
        eta0=args.learning_rate,
        alpha=args.alpha,
        random_state=0,
    )
    with mlflow.start_run():
        mlflow.log_params(
            {
                "epochs": args.epochs,
                "learning_rate": args.learning_rate,
                "alpha": args.alpha,
                "train_size": len(x_train),
                "test_size": len(x_test),
            }
        )
        for epoch in range(args.epochs):
            model.partial_fit(x_train, y_train, classes=classes)
            train_loss = log_loss(y_train, model.predict_proba(x_train), labels=classes)
            accuracy = accuracy_score(y_test, model.predict(x_test))
            mlflow.log_metrics({"train_loss": train_loss, "test_accuracy": accuracy}, step=epoch)
            print(f"epoch {epoch + 1}/{args.epochs} loss={train_loss:.4f} accuracy={accuracy:.4f}")
        os.makedirs("outputs", exist_ok=True)
        matrix = confusion_matrix(y_test, model.predict(x_test)).tolist()
        with open("outputs/confusion_matrix.json", "w") as out:
            json.dump({"labels": classes.tolist(), "matrix": matrix}, out)
        if args.log_model:
            mlflow.sklearn.log_model(model, name="model", serialization_format="cloudpickle")
        print(f"final accuracy {accuracy:.4f}")


if __name__ == "__main__":
    main()
