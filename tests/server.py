"""A real app.py process on 127.0.0.1 for tests: started with a bounded readiness wait, always stopped."""
import contextlib
import os
import socket
import subprocess
import sys
import time

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def app_server(tmp_dir, *flags, timeout=120):
    """Yields (base url, log file path). `tmp_dir` holds the outputs, settings, log, styles.csv (if a test puts one
    there) and the model folders (`models/`, `Lora/`, `VAE/`, `embeddings/`, and `a1111-models/` for upscalers)."""
    port = free_port()
    for name in ("models", "Lora", "VAE", "embeddings"):
        os.makedirs(os.path.join(tmp_dir, name), exist_ok=True)
    log_path = os.path.join(tmp_dir, f"server-{port}.log")
    defaults = ["--outdir", os.path.join(tmp_dir, "outputs"), "--ckpt-dir", os.path.join(tmp_dir, "models"),
                "--models-dir", os.path.join(tmp_dir, "a1111-models"),
                "--ui-settings-file", os.path.join(tmp_dir, "config.json"), "--styles-file",
                os.path.join(tmp_dir, "styles.csv")]
    defaults += [item for name in ("Lora", "VAE", "embeddings")
                 for item in (f"--{name.lower()}-dir", os.path.join(tmp_dir, name))]
    with open(log_path, "w") as log:
        process = subprocess.Popen([sys.executable, "app.py", "--port", str(port), *defaults, *flags], cwd=ROOT,
                                   stdout=log, stderr=subprocess.STDOUT)
        with open(os.path.join(tmp_dir, f"server-{port}.pid"), "w") as pid_file:  # for tests that read /proc
            pid_file.write(str(process.pid))
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout
            while True:
                if process.poll() is not None:
                    raise RuntimeError("the server exited while starting:\n" + open(log_path).read())
                try:
                    if requests.get(url + "/health", timeout=2).status_code == 200:
                        break
                except requests.ConnectionError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not answer within {timeout} s")
                time.sleep(0.5)
            yield url, log_path
        finally:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
