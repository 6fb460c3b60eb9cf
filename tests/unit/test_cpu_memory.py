"""The CPU memory policy (pipelines/cpu_memory.py): a large block freed and taken again reuses the same pages instead
of page-faulting them afresh, and a user's own malloc settings win. Each case runs in a fresh process, since the
policy is process-wide and applied once."""
import json
import os
import subprocess
import sys

import pytest

from pipelines import cpu_memory

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Touch a 64 MiB tensor (what a VAE activation is), free it, take it again: the page faults of each round. (torch,
# not numpy: numpy asks for huge pages, which hide the faults.)
PROBE = """
import json, resource
import torch
from pipelines.cpu_memory import keep_freed_memory

def faults_of_one_block():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = torch.ones(64 << 20, dtype=torch.uint8)
    del block
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

applied = keep_freed_memory()
print(json.dumps({"applied": applied, "again": keep_freed_memory(),
                  "faults": [faults_of_one_block() for _ in range(8)]}))
"""
PAGES = (64 << 20) // 4096


def last_line_of(code: str, **env) -> str:
    """Run `code` in a fresh Python with malloc untuned (plus `env`); its last printed line."""
    environment = {k: v for k, v in os.environ.items() if k not in cpu_memory.USER_SETTINGS}
    environment.update(env, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, timeout=300,
                         check=True).stdout
    return out.strip().splitlines()[-1]


def probe(**env) -> dict:
    return json.loads(last_line_of(PROBE, **env))


glibc = pytest.mark.skipif(not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None,
                           reason="the policy is glibc's mallopt")


@glibc
def test_freed_blocks_are_reused_without_page_faults():
    result = probe()
    assert result["applied"] and result["again"]
    faults = result["faults"]
    assert faults[0] >= PAGES * 0.9, result  # the first use maps the block: a fault per page
    # the heap may grow once more (another thread's small blocks can land above the freed one), then it is reused:
    # 8 uses fault on at most 2 blocks' pages in all (glibc's default: on 8), and the last ones on none
    assert sum(faults) < PAGES * 2.1, result
    assert all(n < PAGES * 0.05 for n in faults[-3:]), result


@glibc
def test_user_malloc_settings_are_left_alone():
    result = probe(MALLOC_MMAP_MAX_="65536")  # glibc's default, set by hand
    assert result["applied"] is False
    assert all(n >= PAGES * 0.9 for n in result["faults"]), result  # glibc's default: each use maps afresh


@glibc
def test_the_cpu_model_manager_applies_the_policy():
    code = ("from pipelines import Folders, Placement, build_services\n"
            "from pipelines import cpu_memory\n"
            "services = build_services('builtin:tiny', Folders(ckpt_dir=None, outdir=None), Placement(device='cpu'))\n"
            "print(cpu_memory._applied)\n"
            "services.close()\n")
    assert last_line_of(code) == "True"
