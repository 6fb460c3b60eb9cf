"""k-diffusion's sampler functions (Katherine Crowson, MIT licence), as A1111 runs them, and A1111's Restart and LCM.

The PyPI package `k-diffusion` cannot be imported without its training and evaluation dependencies (torchvision,
CLIP, clean-fid, kornia, wandb ...), so the functions A1111 calls are kept here, as ComfyUI and Forge keep them; the
test suite checks them against the package's own code."""
