"""Start the team's MLflow server once PostgreSQL and S3 answer (compose's start order is not a wait).

Every secret comes from the environment (deploy/stack.env through compose); the basic-auth settings are
written to a private file, and the `serving` user, which the serving replicas read the champion with,
exists before the server takes a request. Any missing setting stops the start with one line.
"""

import os
import socket
import sys
import time
from pathlib import Path

import psycopg2

WAIT_SECONDS = 300
AUTH_FILE = Path("/tmp/basic_auth.ini")


def setting(name: str, minimum_length: int = 1) -> str:
    value = os.environ.get(name, "")
    if len(value) < minimum_length:
        sys.exit(f"mlflow: {name} must be set to at least {minimum_length} characters (deploy/stack.env)")
    return value


def wait_for(what: str, ready) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        try:
            ready()
            return
        except Exception as error:  # noqa: BLE001 - anything but success means "not yet"
            if time.monotonic() > deadline:
                sys.exit(f"mlflow: {what} did not answer within {WAIT_SECONDS} s: {error}")
            time.sleep(1)


def main() -> None:
    database = f"postgresql+psycopg2://mlflow:{setting('MLFLOW_DB_PASSWORD')}@db:5432"
    admin_password = setting("MLFLOW_ADMIN_PASSWORD", 12)
    serving_password = setting("SERVING_PASSWORD", 12)
    setting("MLFLOW_FLASK_SERVER_SECRET_KEY", 16)
    setting("AWS_ACCESS_KEY_ID"), setting("AWS_SECRET_ACCESS_KEY")
    wait_for("PostgreSQL (db:5432)", lambda: psycopg2.connect(database.replace("+psycopg2", "") + "/mlflow").close())
    wait_for("S3 (s3:8333)", lambda: socket.create_connection(("s3", 8333), timeout=2).close())

    AUTH_FILE.touch(mode=0o600)
    AUTH_FILE.write_text(
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = {database}/mlflow_auth\n"
        "admin_username = admin\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore

    users = SqlAlchemyStore()
    users.init_db(f"{database}/mlflow_auth")
    if not users.has_user("serving"):
        users.create_user("serving", serving_password)  # reads what default_permission allows: READ
    os.environ.update(MLFLOW_AUTH_CONFIG_PATH=str(AUTH_FILE), MLFLOW_AUTH_ADMIN_PASSWORD=admin_password)
    # MLflow checks the Host header against this list (DNS rebinding): the service name inside the
    # stack, and the published port on this machine.
    hosts = os.environ.get("MLFLOW_ALLOWED_HOSTS", "mlflow:5000,127.0.0.1:5050,localhost:5050")
    os.execvp("mlflow", [
        "mlflow", "server", "--app-name", "basic-auth", "--host", "0.0.0.0", "--port", "5000",
        "--workers", os.environ.get("MLFLOW_WORKERS", "2"),
        "--backend-store-uri", f"{database}/mlflow",
        "--artifacts-destination", f"s3://{os.environ.get('MLFLOW_BUCKET', 'mlflow')}/",
        "--serve-artifacts", "--allowed-hosts", hosts,
    ])  # fmt: skip


if __name__ == "__main__":
    main()
