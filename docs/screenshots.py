"""Screenshots of the web pages for the README: the catalogue and a model's page.

Starts the modelhub server (SQLite and a blob folder in a temporary folder)
with a few realistic models, signs in through the page as an admin, and
saves PNGs into docs/ with headless Chromium (Debian's ``chromium``
package, driven by Playwright)::

    .venv/bin/python docs/screenshots.py
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

from domain.permissions import SYSTEM
from entrypoints.bootstrap import Registry
from entrypoints.settings import Settings
from entrypoints.web import make_app
from entrypoints.web.server import create_server

DOCS = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"
ADMIN, PASSWORD = "admin", "screenshots-only-1"

FRAMEWORKS = [("pytorch", "2.4"), ("tensorflow", "2.16"), ("transformers", "4.44")]
MODELS: list[dict[str, Any]] = [
    {
        "name": "resnet50-imagenet",
        "framework": 0,
        "domain": "ic",
        "licence": "BSD-3-Clause",
        "url": "https://pytorch.org/vision/stable/models/resnet.html",
        "description": "ResNet-50 trained on ImageNet-1k (top-1 80.9 %), torchvision V2 weights.",
        "metadata": "input=224x224\nnormalisation=imagenet\ntop1=80.858",
        "size": 24 * 1024 * 1024,
        "downloads": 37,
    },
    {
        "name": "yolov8m-coco",
        "framework": 0,
        "domain": "od",
        "licence": "GPL3",
        "url": "https://docs.ultralytics.com/models/yolov8/",
        "description": "YOLOv8 medium object detector trained on COCO 2017, 50.2 mAP.",
        "source": "https://example.org/weights/yolov8m.pt",
    },
    {
        "name": "deeplabv3-mobilenet",
        "framework": 1,
        "domain": "is",
        "licence": "Apache 2.0",
        "url": "https://www.tensorflow.org/lite/examples/segmentation/overview",
        "description": "DeepLab v3, MobileNet v2 backbone: semantic segmentation on PASCAL VOC.",
        "size": 2 * 1024 * 1024 + 4096,
        "downloads": 5,
    },
    {
        "name": "whisper-small",
        "framework": 2,
        "domain": "sp",
        "licence": "MIT",
        "url": "https://huggingface.co/openai/whisper-small",
        "description": "Whisper small (244 M parameters): multilingual speech recognition.",
        "source": "https://example.org/weights/whisper-small.bin",
    },
    {
        "name": "efficientnet-b0-plants",
        "framework": 1,
        "domain": "ic",
        "licence": "Apache 2.0",
        "url": "https://keras.io/api/applications/efficientnet/",
        "description": "EfficientNet-B0 fine-tuned on our greenhouse plant-disease images.",
    },
]


def seed(registry: Registry) -> int:
    """The catalogue and an admin; returns the pk of the model to show."""
    with registry.transaction() as services:
        services.users.create(SYSTEM, {"username": ADMIN, "password": PASSWORD, "is_staff": True})
        frameworks = [
            services.frameworks.create(SYSTEM, {"name": n, "version": v}) for n, v in FRAMEWORKS
        ]
        shown = 0
        for entry in MODELS:
            body = {k: v for k, v in entry.items() if k not in ("size", "downloads")}
            body["framework"] = frameworks[entry["framework"]].pk
            model = services.models.create(SYSTEM, body)
            if "size" in entry:
                data = io.BytesIO(os.urandom(entry["size"]))
                services.models.set_file(SYSTEM, model.pk, data)
            for _ in range(entry.get("downloads", 0)):
                registry.usage.served(model.pk, entry.get("size", 0), download=True)
            shown = shown or model.pk
    return shown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DOCS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            database_url=f"sqlite:///{folder}/modelhub.sqlite",
            blob_root=Path(folder) / "blobs",
            jwt_key="screenshots-only-signing-key-0123456789abcdef",
        )
        registry = Registry(settings)
        registry.initialise_database()
        pk = seed(registry)
        server = create_server(make_app(registry), listen="127.0.0.1:0", threads=4)
        threading.Thread(target=server.run, daemon=True).start()
        base = f"http://127.0.0.1:{server.effective_port}"
        try:
            shoot(base, pk, args.out)
        finally:
            server.task_dispatcher.shutdown()
            registry.dispose()


def shoot(base: str, pk: int, out: Path) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{base}/sign-in")
        page.fill("#username", ADMIN)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/")
        page.screenshot(path=str(out / "catalogue.png"), full_page=True)
        page.goto(f"{base}/models/{pk}")
        page.screenshot(path=str(out / "model-page.png"), full_page=True)
        browser.close()
    print(f"wrote {out / 'catalogue.png'} and {out / 'model-page.png'}")


if __name__ == "__main__":
    main()
