"""Face restoration with a GFPGAN-architecture file and facexlib's detection and parsing files in the A1111 folders:
found, listed, used on the job's pictures; a missing file is an error naming it and its folder."""
import numpy as np
import pytest

from pipelines import Done, Failed, Job
from pipelines.face_restoration import FaceRestorers
from pipelines.job import JobError
from tests.helpers import noise_image, pixels


@pytest.fixture(scope="module")
def with_gfpgan(services, upscaler_dir, face_models):
    link = upscaler_dir / "GFPGAN"
    link.symlink_to(face_models, target_is_directory=True)
    yield services
    link.unlink()


def test_restore_faces_changes_the_face_and_says_so(with_gfpgan):
    services = with_gfpgan
    assert [(f.name, f.path.name) for f in services.face_restorers.list()] == [("GFPGAN", "GFPGANv1.4.safetensors")]
    job = dict(init_images=[noise_image(64, 64)], width=64, height=64, steps=3, seed=9,
               override_settings={"face_restoration_model": "GFPGAN"})
    plain = list(services.queue.submit(Job(**job), owner="faces"))[-1]
    restored = list(services.queue.submit(Job(**job, restore_faces=True), owner="faces"))[-1]
    assert isinstance(restored, Done), getattr(restored, "error", restored)
    changed = np.abs(pixels(restored.images[0]) - pixels(plain.images[0])).max(axis=-1) > 0
    assert 0.05 < changed.mean() < 0.95  # the face found is replaced, the rest of the picture is kept
    assert "Face restoration: GFPGAN, Size: 64x64" in restored.infotexts[0]
    assert restored.info["restore_faces"] is True and restored.info["face_restoration_model"] == "GFPGAN"
    failed = list(services.queue.submit(Job(**dict(job, override_settings={}), restore_faces=True), owner="f"))[-1]
    assert isinstance(failed, Failed) and failed.invalid
    assert "CodeFormer needs its weights" in failed.error and "codeformer-v0.1.0.pth" in failed.error


def test_a_missing_facexlib_file_is_named_with_its_folder(tmp_path, face_models):
    (tmp_path / "GFPGAN").mkdir()
    (tmp_path / "GFPGAN" / "GFPGANv1.4.safetensors").symlink_to(face_models / "GFPGANv1.4.safetensors")
    restorers = FaceRestorers(tmp_path)
    assert [f.name for f in restorers.list()] == ["GFPGAN"]
    with pytest.raises(JobError, match=r"needs facexlib.s detection_Resnet50_Final.pth in .*GFPGAN or .*Codeformer"):
        restorers.check("GFPGAN")
    (tmp_path / "GFPGAN" / "detection_Resnet50_Final.pth").symlink_to(face_models / "detection_Resnet50_Final.pth")
    with pytest.raises(JobError, match="parsing_parsenet.pth"):
        restorers.check("GFPGAN")
    with pytest.raises(JobError, match="'RestoreFormer' is unknown"):
        restorers.check("RestoreFormer")


def test_codeformer_restores_with_its_weight(tmp_path, face_models):
    from tests.helpers import write_codeformer
    write_codeformer(tmp_path / "Codeformer" / "codeformer-v0.1.0.safetensors")
    for name in ("detection_Resnet50_Final.pth", "parsing_parsenet.pth"):
        (tmp_path / "Codeformer" / name).symlink_to(face_models / name)
    restorers = FaceRestorers(tmp_path)
    assert [f.name for f in restorers.list()] == ["CodeFormer"]
    source = noise_image(64, 64, seed=5)
    restored = restorers.restore(source, "CodeFormer", codeformer_weight=0.5)
    changed = np.abs(pixels(restored) - pixels(source)).max(axis=-1) > 0
    assert restored.size == (64, 64) and 0.05 < changed.mean() < 0.95
