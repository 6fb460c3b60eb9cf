"""Face restoration as A1111 does it: faces found and aligned by facexlib (RetinaFace, then ParseNet for the paste-back
mask), each one restored by GFPGAN or CodeFormer (loaded with spandrel) at 512 x 512, and pasted back. The weights are
the user's files in A1111's folders (`models/GFPGAN`, `models/Codeformer`, facexlib's two files in either of them);
nothing is ever downloaded: a missing file is an error that names it and where it goes."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Union

import cv2
import numpy as np
import torch
from PIL import Image

from .job import JobError

log = logging.getLogger(__name__)
RESTORERS = {"CodeFormer": ("Codeformer", "codeformer"), "GFPGAN": ("GFPGAN", "gfpgan")}  # folder, name contains
FACEXLIB_FILES = ("detection_Resnet50_Final.pth", "parsing_parsenet.pth")
SUFFIXES = (".pth", ".safetensors")


@dataclass(frozen=True)
class FaceRestorerInfo:
    name: str
    path: Path

    @property
    def cmd_dir(self) -> str:
        return str(self.path.parent)


class FaceRestorers:
    """The face restoration models found in the A1111 folders, run on the model's device."""

    def __init__(self, models_dir: Optional[Union[str, Path]] = "models", device: str = "cpu"):
        self.models_dir, self.device = Path(models_dir) if models_dir else None, device
        self._nets: Dict[Path, torch.nn.Module] = {}
        self._helper = None
        self._lock = threading.Lock()

    def list(self) -> List[FaceRestorerInfo]:
        found = []
        for name, (folder, word) in RESTORERS.items():
            root = self.models_dir / folder if self.models_dir else None
            files = sorted(p for p in root.glob("*") if p.suffix.lower() in SUFFIXES and word in p.name.lower()) \
                if root and root.is_dir() else []
            if files:
                found.append(FaceRestorerInfo(name, files[0]))
        return found

    def find(self, name: str) -> FaceRestorerInfo:
        if name not in RESTORERS:
            raise JobError(f"face restoration model {name!r} is unknown; it is one of {', '.join(RESTORERS)}")
        for info in self.list():
            if info.name == name:
                return info
        folder = Path(self.models_dir or "models") / RESTORERS[name][0]
        example = "codeformer-v0.1.0.pth" if name == "CodeFormer" else "GFPGANv1.4.pth"
        raise JobError(f"face restoration with {name} needs its weights: put a file such as {example} in {folder} "
                       "(this server never downloads weights)")

    def check(self, name: str) -> None:
        """Raise a JobError naming the first file that restoring faces with `name` lacks."""
        self.find(name)
        self.facexlib_folder()

    def facexlib_folder(self) -> Path:
        """The folder holding facexlib's detection and parsing weights (A1111 keeps them with the restorers)."""
        folders = [Path(self.models_dir or "models") / folder for folder, _ in RESTORERS.values()]
        for folder in folders:
            if all((folder / f).is_file() for f in FACEXLIB_FILES):
                return folder
        missing = next(f for f in FACEXLIB_FILES if not any((folder / f).is_file() for folder in folders))
        raise JobError(f"face restoration needs facexlib's {missing} in {folders[1]} or {folders[0]} (with "
                       f"{' and '.join(FACEXLIB_FILES)}, as A1111 keeps them; this server never downloads weights)")

    def restore(self, image: Image.Image, name: str, codeformer_weight: float = 0.5) -> Image.Image:
        info = self.find(name)
        with self._lock:
            helper = self._face_helper()
            net = self._net(info.path)
            if name == "CodeFormer":
                def run(face):
                    return net(face, weight=codeformer_weight, adain=True)[0]
            else:
                def run(face):
                    return net(face, return_rgb=False)[0]
            restored = restore_with_face_helper(np.asarray(image.convert("RGB")), helper, run, self.device)
        return Image.fromarray(restored)

    def _face_helper(self):
        if self._helper is None:
            from facexlib.utils.face_restoration_helper import FaceRestoreHelper
            self._helper = FaceRestoreHelper(upscale_factor=1, face_size=512, crop_ratio=(1, 1),
                                             det_model="retinaface_resnet50", save_ext="png", use_parse=True,
                                             device=torch.device(self.device),
                                             model_rootpath=str(self.facexlib_folder()))
        return self._helper

    def _net(self, path: Path) -> torch.nn.Module:
        if path not in self._nets:
            import spandrel
            import spandrel_extra_arches
            spandrel_extra_arches.install(ignore_duplicates=True)  # CodeFormer's architecture lives there
            try:
                descriptor = spandrel.ModelLoader(device=self.device).load_from_file(str(path))
            except Exception as e:  # spandrel raises several kinds for files it does not know
                raise JobError(f"{path.name}: not a face restoration model spandrel can load ({e})") from None
            self._nets.clear()
            self._nets[path] = descriptor.model.eval()
            log.info("Loaded face restoration model %s (%s)", path.name, descriptor.architecture.name)
        return self._nets[path]


@torch.inference_mode()
def restore_with_face_helper(rgb: np.ndarray, helper, restore_face: Callable, device: str) -> np.ndarray:
    """A1111's `restore_with_face_helper`: detect and align the faces (BGR, as facexlib works), restore each in
    [-1, 1], paste them back; an RGB uint8 picture of the same size."""
    bgr = rgb[:, :, ::-1].copy()
    size = bgr.shape[:2]
    try:
        helper.clean_all()
        helper.read_image(bgr)
        helper.get_face_landmarks_5(only_center_face=False, resize=640, eye_dist_threshold=5)
        helper.align_warp_face()
        for face in helper.cropped_faces:
            tensor = torch.from_numpy(cv2.cvtColor((face / 255.0).astype(np.float32), cv2.COLOR_BGR2RGB)
                                      .transpose(2, 0, 1)).float()
            tensor = ((tensor - 0.5) / 0.5).unsqueeze(0).to(device)
            out = restore_face(tensor).squeeze(0).float().cpu().clamp_(-1, 1)
            out = ((out + 1) / 2).numpy().transpose(1, 2, 0)
            helper.add_restored_face((cv2.cvtColor(out, cv2.COLOR_RGB2BGR) * 255.0).astype(np.uint8))
        helper.get_inverse_affine(None)
        result = helper.paste_faces_to_input_image()[:, :, ::-1]
        if result.shape[:2] != size:
            result = cv2.resize(result, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    finally:
        helper.clean_all()
    return np.ascontiguousarray(np.clip(result, 0, 255).astype(np.uint8))
